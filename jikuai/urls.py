from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from jikuai.web import views as web_views

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("version.json", web_views.version, name="version"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("jikuai.api.urls")),
    path("kyc/", include("jikuai.customers.kyc.urls")),
    path("loans/", include("lending.urls")),
    path("rules/", include("riskrules.urls")),
    path("performance/", include("performance.urls")),
    path("life/", include("lifestyle.urls")),
    path("", include("jikuai.web.urls")),
]

handler404 = "jikuai.web.views.not_found"

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
