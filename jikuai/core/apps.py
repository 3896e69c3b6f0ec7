from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "jikuai.core"
    label = "core"
    verbose_name = "平台内核 Platform kernel"

    def ready(self):
        from django.db.models.signals import post_migrate

        from jikuai.core import bus, refmemo
        from jikuai.core.models import BusinessDate
        from jikuai.core.scheduling import sync_periodic_tasks

        bus.autodiscover_handlers()
        refmemo.connect_request_signals()
        refmemo.watch(BusinessDate)  # get_business_date() is memoised
        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="jikuai_sync_periodic_tasks")
