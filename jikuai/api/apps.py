from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "jikuai.api"
    label = "api"
    verbose_name = "开放接口 Integrator API"

    def ready(self):
        from jikuai.api import schema  # noqa: F401 (registers the OpenAPI auth extension)
        from jikuai.api.models import IntegratorClient
        from jikuai.core import refmemo
        from jikuai.org.models import Institution

        refmemo.watch(IntegratorClient, Institution)  # the signed-request authentication memoises them
