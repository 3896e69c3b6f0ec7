"""PostgreSQL thread test: two simultaneous applications of one customer for one product — the partial
unique index (one open application per customer and product) lets exactly one through; the other gets
the same clear Conflict as a sequential second attempt."""

import threading

import pytest
from django.db import connection

from jikuai.core.exceptions import ApplicationError
from lending.models import LoanApplication
from lending.services.origination import application_apply, application_create
from tests.factories import make_customer
from tests.lending.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _restore_seeded_policy():
    """Transactional tests flush every table: put back the policy other origination tests seeded once."""
    yield
    from riskrules.policy.seed import seed_policy

    seed_policy()


@pytest.mark.parametrize("service", [application_create, application_apply], ids=["create", "apply"])
def test_two_simultaneous_applications_for_one_product_create_one(service):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    product = ProductFactory(code="CONC1", term_options=[12], allowed_methods=["equal_installment"])
    customer = make_customer()
    barrier = threading.Barrier(2)
    results = []

    def worker(amount):
        try:
            barrier.wait(timeout=10)
            app = service(
                customer=customer,
                product=product,
                amount=amount,
                term_months=12,
                repayment_method="equal_installment",
                channel="web",
            )
            results.append(("created", app.application_no))
        except ApplicationError as exc:
            results.append(("refused", exc.code))
        except Exception as exc:  # surfaced in the assertion below
            results.append(("error", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(amount,)) for amount in ("10000", "20000")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(kind for kind, _ in results) == ["created", "refused"], results
    assert ("refused", "application_open") in results
    assert LoanApplication.objects.filter(customer=customer, product=product).count() == 1
