import pytest

from tests.factories import BranchFactory, InstitutionFactory, make_customer
from tests.lifestyle.factories import make_region


@pytest.fixture
def institution(db):
    return InstitutionFactory(code="YSRCB", name="榆树农商行")


@pytest.fixture
def branch(institution):
    return BranchFactory(institution=institution)


@pytest.fixture
def village(db):
    return make_region()


@pytest.fixture
def customer(institution, branch, village):
    return make_customer(institution=institution, branch=branch, name="李四", region=village)


@pytest.fixture
def other_customer(institution, branch, village):
    return make_customer(institution=institution, branch=branch, name="王五", region=village)
