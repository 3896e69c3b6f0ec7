import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

app = Celery("jikuai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
