import pytest

from jikuai.core import sms


@pytest.fixture(autouse=True)
def _sms_outbox():
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def sms_outbox(_sms_outbox):
    return _sms_outbox


@pytest.fixture(autouse=True)
def _rule_configuration_memo():
    """Each test starts without this process's memo of reference data (jikuai.core.refmemo: rule
    configuration, products on sale, integrator clients): a test's rolled-back data never reaches the next."""
    from riskrules.services import decisions

    decisions.clear_caches()
    yield
    decisions.clear_caches()
