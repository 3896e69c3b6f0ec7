import pytest

from tests.factories import InstitutionFactory


@pytest.fixture
def institution(db):
    return InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")


@pytest.fixture
def other_institution(db):
    return InstitutionFactory(code="YBRCB", name="延边农商银行", short_name="延边农商行")
