"""Demo data for manual review: referred applications with their tasks, idempotent."""

import datetime as dt

import pytest

from jikuai.core.demo import seed_kernel
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.demo import seed_products
from lending.demo_review import seed_demo_review
from lending.models import LoanApplication, ReviewTask

pytestmark = pytest.mark.django_db


def test_seed_demo_review_is_idempotent():
    business_date_set(day=dt.date(2026, 11, 20))
    seed_kernel(customers_per_bank=4, today=dt.date(2026, 11, 20))
    seed_products()
    first = seed_demo_review()
    assert first["referred_applications_created"] >= 2
    referred = LoanApplication.objects.filter(state="referred")
    assert referred.count() == first["referred_applications_created"]
    tasks = ReviewTask.objects.filter(status="open")
    assert tasks.count() == referred.count()
    assert {roles.CREDIT_REVIEWER, roles.BRANCH_MANAGER} <= set(tasks.values_list("queue_role", flat=True))
    assert seed_demo_review() == {"review_tasks_opened": 0, "referred_applications_created": 0}
    # a referred application made elsewhere without a task gets one
    ReviewTask.objects.filter(pk=tasks.first().pk).update(status="cancelled")
    assert seed_demo_review()["review_tasks_opened"] == 1
