"""Fixtures for the manual-review tests: one institution with two branches, reviewers of each role, a
customer with a household, and referred applications created directly (no origination service)."""

import datetime as dt
import itertools
from decimal import Decimal

from jikuai.org import roles
from lending.models import LoanApplication
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff
from tests.lending.factories import ProductFactory

_numbers = itertools.count(1)

# A Monday in a normal week (2026-03-02), 09:00 Asia/Shanghai.
MONDAY = dt.date(2026, 3, 2)


class World:
    """Everything a review test needs, built once per test."""

    def __init__(self):
        self.institution = InstitutionFactory()
        self.branch = BranchFactory(institution=self.institution)
        self.other_branch = BranchFactory(institution=self.institution)
        self.account_manager = make_staff(role=roles.ACCOUNT_MANAGER, branch=self.branch, name="王经理")
        self.reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=self.institution, name="李审批")
        self.reviewer2 = make_staff(role=roles.CREDIT_REVIEWER, institution=self.institution, name="赵审批")
        self.manager = make_staff(role=roles.BRANCH_MANAGER, branch=self.branch, name="周行长")
        self.other_manager = make_staff(role=roles.BRANCH_MANAGER, branch=self.other_branch, name="吴行长")
        foreign = InstitutionFactory()
        self.foreign_reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=foreign, name="外行审批")
        self.customer = make_customer(
            institution=self.institution, branch=self.branch, account_manager=self.account_manager, name="刘德华"
        )
        self.product = ProductFactory(
            min_amount=Decimal("1000.00"),
            max_amount=Decimal("300000.00"),
            min_rate=Decimal("0.03"),
            max_rate=Decimal("0.18"),
            apr_ceiling=Decimal("0.24"),
            application_validity_days=30,
        )

    def application(self, *, amount="50000.00", decided=None, rate="0.065", customer=None, product=None, **fields):
        customer = customer or self.customer
        product = product or self.product
        return LoanApplication.objects.create(
            application_no=f"RV{next(_numbers):010d}",
            institution=self.institution,
            branch=fields.pop("branch", self.branch),
            account_manager=fields.pop("account_manager", self.account_manager),
            customer=customer,
            product=product,
            amount_requested=Decimal(amount),
            approved_amount=None if decided is None else Decimal(decided),
            annual_rate=None if rate is None else Decimal(rate),
            term_months=12,
            repayment_method="equal_installment",
            state=fields.pop("state", "referred"),
            decision_outcome="refer",
            reasons=[["income_unverified", "收入未能核实，需人工审核"]],
            **fields,
        )
