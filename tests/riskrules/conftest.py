import pytest

from riskrules import features
from riskrules.services import decisions as decision_services


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Seed the catalogue and the published rule sets of the seven products once per session (through the
    same services and guard-rails officers use); every test then runs in its own rolled-back transaction."""
    with django_db_blocker.unblock():
        from riskrules.policy.seed import seed_policy

        seed_policy()


@pytest.fixture(autouse=True)
def _only_riskrules_providers():
    """riskrules is tested on its own: internal-data providers other apps register (lending's overdue,
    debt, white-list limit…) are set aside so that the tests supply those values as inputs."""
    foreign = {
        name: func
        for name, func in features.registered_providers().items()
        if not getattr(func, "__module__", "").startswith("riskrules")
    }
    for name in foreign:
        features.unregister_provider(name)
    yield
    for name, func in foreign.items():
        features.register_provider(name, func)


@pytest.fixture(autouse=True)
def _riskrules_caches():
    features.clear_caches()
    decision_services.clear_caches()
    yield
    features.clear_caches()
    decision_services.clear_caches()
