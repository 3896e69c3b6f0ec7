"""Origination pages under /loans/ (names in the ``lending`` namespace)."""

from django.urls import path

from lending import views_origination as views

urlpatterns = [
    path("products/", views.product_list, name="products"),
    path("products/<slug:code>/", views.product_detail, name="product"),
    path("products/<slug:code>/apply/", views.apply, name="apply"),
    path("applications/", views.application_list, name="applications"),
    path("applications/<int:application_id>/", views.application_detail, name="application"),
    path("applications/<int:application_id>/submit/", views.application_submit_view, name="application_submit"),
    path("applications/<int:application_id>/cancel/", views.application_cancel_view, name="application_cancel"),
    # staff field app (移动展业)
    path("field/", views.field_home, name="field"),
    path("field/customers/<int:customer_id>/", views.field_customer, name="field_customer"),
    path("field/customers/<int:customer_id>/apply/<slug:code>/", views.field_apply, name="field_apply"),
    path("field/applications/<int:application_id>/", views.field_application, name="field_application"),
]
