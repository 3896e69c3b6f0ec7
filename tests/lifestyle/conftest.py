import pytest

from tests.factories import BranchFactory, InstitutionFactory, make_customer


@pytest.fixture
def institution(db):
    return InstitutionFactory(code="YSRCB", name="榆树农商行")


@pytest.fixture
def branch(institution):
    return BranchFactory(institution=institution)


@pytest.fixture
def customer(institution, branch):
    return make_customer(institution=institution, branch=branch, name="李四")


@pytest.fixture
def other_customer(institution, branch):
    return make_customer(institution=institution, branch=branch, name="王五")
