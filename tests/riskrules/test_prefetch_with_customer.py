"""customer_for_decision reads the customer's consent and list entries in its own statement; a decision
given that customer must see exactly what prefetch would have read (and read afresh when it cannot)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer
from riskrules.features import Subject, customer_for_decision, prefetch
from riskrules.services import lists as svc
from tests.riskrules.factories import farmer_customer, officers

pytestmark = pytest.mark.django_db


def _entry(maker, checker, institution, **fields):
    entry = svc.list_entry_create(
        maker=maker,
        reason_code="LIST_NPL",
        source="internal_npl",
        valid_from=dt.date(2025, 1, 1),
        institution=institution,
        **fields,
    )
    svc.list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
    return entry


def _read(customer, inputs=None):
    subject = Subject(kind="application", id="A1", customer_id=customer.pk, institution_id=customer.institution_id)
    data = prefetch(
        [(subject, inputs or {})], needs_customer=False, needs_consent=True, needs_lists=True, customers={customer.pk: customer}
    )
    return data.credit_consents, {key: sorted(rows) for key, rows in data.list_entries.items()}


def _plain(customer):
    return Customer.objects.get(pk=customer.pk)


@pytest.mark.parametrize("consent", [True, False])
def test_consent_and_lists_read_with_the_customer_equal_what_prefetch_reads(consent):
    customer = farmer_customer(consent=consent)
    maker, checker = officers(customer.institution)
    _entry(maker, checker, customer.institution, list_kind="black", key_type="mobile", key_value=customer.mobile)
    province = officers()  # a province-wide entry
    _entry(*province, None, list_kind="white", key_type="id_number", key_value=customer.id_number, valid_to=dt.date(2027, 6, 30))
    _entry(
        maker, checker, customer.institution, list_kind="grey", key_type="device", key_value="DEV-1"
    )  # not its own key  # not on the customer's own keys
    loaded = customer_for_decision(customer.pk, customer.institution_id)
    with CaptureQueriesContext(connection) as queries:
        together = _read(loaded)
    assert len(queries) == 0  # nothing read again
    assert together == _read(_plain(customer))
    consents, entries = together
    assert consents == ({customer.pk} if consent else set())
    kinds = sorted(row[1] for rows in entries.values() for row in rows)
    assert kinds == ["black", "white"] and any(row[5] == dt.date(2027, 6, 30) for rows in entries.values() for row in rows)


def test_an_identifier_in_the_inputs_is_searched_as_before():
    customer = farmer_customer()
    maker, checker = officers(customer.institution)
    _entry(maker, checker, customer.institution, list_kind="grey", key_type="device", key_value="DEV-2")
    loaded = customer_for_decision(customer.pk, customer.institution_id)
    consents, entries = _read(loaded, {"device_id": "DEV-2"})
    assert consents == {customer.pk} and [row[1] for rows in entries.values() for row in rows] == ["grey"]


def test_what_was_read_with_the_customer_serves_one_decision_only():
    customer = farmer_customer()
    loaded = customer_for_decision(customer.pk, customer.institution_id)
    assert _read(loaded)[0] == {customer.pk}
    customer_services.consent_withdraw(customer=customer, purpose="credit_report")
    assert _read(loaded)[0] == set()  # a second decision reads afresh: the withdrawal counts
