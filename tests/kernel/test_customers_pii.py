import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from jikuai.core import crypto
from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.customers import services
from jikuai.customers.models import Customer
from tests.factories import InstitutionFactory, make_customer, new_id_number

pytestmark = pytest.mark.django_db

ID_NUMBER = "22018219860314001X"


def _valid_id():
    return new_id_number(age=40)


def test_raw_columns_hold_no_plaintext():
    id_number = _valid_id()
    customer = make_customer(
        id_number=id_number, mobile="13812345678", address="吉林省榆树市大岭镇东岭村8号", bank_card="6217000012345678"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, mobile, address, bank_card, id_number_index FROM customers_customer WHERE id = %s", [customer.pk]
        )
        raw = cursor.fetchone()
    joined = " ".join(raw)
    for secret in (id_number, "13812345678", "大岭镇", "6217000012345678"):
        assert secret not in joined
    assert all(value.startswith("sm4gcm:") for value in raw[:4])
    # the model still gives the plaintext to Python code
    fresh = Customer.objects.get(pk=customer.pk)
    assert fresh.id_number == id_number and fresh.mobile == "13812345678"
    assert fresh.bank_card_last4 == "5678"


def test_history_table_holds_no_plaintext():
    id_number = _valid_id()
    customer = make_customer(id_number=id_number, mobile="13812345670")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, mobile FROM customers_historicalcustomer WHERE id = %s", [customer.pk])
        rows = cursor.fetchall()
    assert rows and all(id_number not in r[0] and "13812345670" not in r[1] for r in rows)


def test_lookup_by_blind_index_and_derived_fields():
    institution = InstitutionFactory()
    id_number = _valid_id()
    customer = make_customer(institution=institution, id_number=id_number.lower())
    found = services.customer_find_by_id_number(institution=institution, id_number=id_number)
    assert list(found) == [customer]
    assert customer.birth_date.strftime("%Y%m%d") == id_number[6:14]
    assert customer.gender == ("M" if int(id_number[16]) % 2 else "F")


def test_duplicate_id_number_in_same_institution_is_refused_and_nothing_changes():
    institution = InstitutionFactory()
    id_number = _valid_id()
    make_customer(institution=institution, id_number=id_number)
    before = Customer.objects.count()
    with pytest.raises(Conflict) as info:
        make_customer(institution=institution, id_number=id_number)
    assert "身份证" in info.value.message_zh
    assert Customer.objects.count() == before
    # another institution may hold the same person as its own customer
    make_customer(institution=InstitutionFactory(), id_number=id_number)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("id_number", {"id_number": "220182198603140011"}),
        ("id_number", {"id_number": "220182860314001"}),
        ("mobile", {"mobile": "12345"}),
        ("name", {"name": " "}),
        ("monthly_income", {"monthly_income": "-1"}),
        ("bank_card", {"bank_card": "12ab"}),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(field, kwargs):
    before = Customer.objects.count()
    params = {"institution": InstitutionFactory(), "name": "李四", "id_number": _valid_id(), "mobile": "13912345678"}
    params.update(kwargs)
    with pytest.raises(ApplicationError) as info:
        services.customer_create(**params)
    assert info.value.extra.get("field") == field
    assert Customer.objects.count() == before


def test_key_rotation_reencrypts_every_row_to_the_newest_key(settings):
    old_spec = settings.PII_KEYS
    customer = make_customer(mobile="13812340000")
    new_key = "rot2:" + "ab" * 16
    with override_settings(PII_KEYS=f"{old_spec},{new_key}"):
        call_command("pii_reencrypt", stdout=io.StringIO())
        with connection.cursor() as cursor:
            cursor.execute("SELECT mobile FROM customers_customer WHERE id = %s", [customer.pk])
            raw = cursor.fetchone()[0]
        assert crypto.key_id_of(raw) == "rot2"
        # the old key can now be dropped: the row still decrypts with only the new key
        with override_settings(PII_KEYS=new_key):
            assert Customer.objects.get(pk=customer.pk).mobile == "13812340000"


def test_ciphertext_cannot_be_moved_between_columns():
    token = crypto.encrypt("13812345678", purpose="customers.mobile")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="customers.id_number")


def test_consent_grant_and_withdraw_are_recorded():
    customer = make_customer()
    consent = services.consent_grant(
        customer=customer, purpose="credit_report", text_version="v1", channel="web", ip_address="127.0.0.1"
    )
    assert services.consent_is_active(customer_id=customer.pk, purpose="credit_report")
    assert services.consent_withdraw(customer=customer, purpose="credit_report") == 1
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert not services.consent_is_active(customer_id=customer.pk, purpose="credit_report")


def test_logs_never_contain_full_id_or_mobile(caplog):
    import logging

    from jikuai.core.masking import PiiMaskingFilter

    logger = logging.getLogger("jikuai.test")
    handler_filter = PiiMaskingFilter()
    record = logger.makeRecord(
        "jikuai.test", logging.INFO, __file__, 1, "customer %s mobile %s", (ID_NUMBER, "13812345678"), None
    )
    handler_filter.filter(record)
    assert ID_NUMBER not in record.getMessage() and "13812345678" not in record.getMessage()
    assert "2201**********001X" in record.getMessage()
