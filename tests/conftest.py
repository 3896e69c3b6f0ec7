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
