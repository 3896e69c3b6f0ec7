import pytest

from lending.corebanking import LocalAdapter


@pytest.fixture(autouse=True)
def _local_core_banking():
    LocalAdapter.reset()
    yield
    LocalAdapter.reset()
