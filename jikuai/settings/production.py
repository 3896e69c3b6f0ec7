"""Production settings: everything secret comes from the environment; nothing is generated."""

import os

os.environ.setdefault("JIKUAI_DEV_KEYS", "false")

from jikuai.settings.base import *  # noqa: F403
from jikuai.settings.base import env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
PII_KEYS = env.str("JIKUAI_PII_KEYS")
BLIND_INDEX_KEY = env.str("JIKUAI_BLIND_INDEX_KEY")
TOKEN_SIGNING_KEY = env.str("JIKUAI_TOKEN_SIGNING_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SMS_BACKEND = env.str("JIKUAI_SMS_BACKEND", default="jikuai.core.sms.HttpGatewayBackend")
