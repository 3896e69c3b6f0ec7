from django.urls import path

from performance import views

app_name = "performance"

urlpatterns = [
    path("", views.my_performance, name="mine"),
    path("results/<int:result_id>/", views.result_detail, name="result"),
    path("results/<int:result_id>/appeal/", views.appeal_create, name="appeal-create"),
    path("results/<int:result_id>/lines/<int:indicator_id>/", views.line_drilldown, name="drilldown"),
    path("team/", views.team, name="team"),
    path("claims/", views.claims, name="claims"),
    path("claims/new/", views.claim_create, name="claim-create"),
    path("claims/<int:claim_id>/decide/", views.claim_decide, name="claim-decide"),
    path("appeals/", views.appeals, name="appeals"),
    path("appeals/<int:appeal_id>/decide/", views.appeal_decide, name="appeal-decide"),
    path("reports/<int:report_id>/download/", views.report_download, name="report-download"),
]
