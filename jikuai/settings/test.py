"""Test settings: the real stack (PostgreSQL when DATABASE_URL points at it), with the SMS gateway
replaced by the in-memory outbox adapter and a fast password hasher."""

from jikuai.settings.base import *  # noqa: F403

SMS_BACKEND = "jikuai.core.sms.LocmemBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.Argon2PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
AXES_FAILURE_LIMIT = 5
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Each test run gets its own key space in the shared Redis: state such as remembered API nonces or
# lockout counters from an earlier run (CI reuses the machine's Redis) must not leak into this one.
if "default" in CACHES and "redis" in CACHES["default"]["BACKEND"]:  # noqa: F405
    import uuid as _uuid

    CACHES["default"]["KEY_PREFIX"] = f"test-{_uuid.uuid4().hex[:12]}"  # noqa: F405
