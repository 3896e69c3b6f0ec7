from django.urls import path

from riskrules import views

app_name = "riskrules"

urlpatterns = [
    path("decisions/<int:decision_id>/", views.decision_detail, name="decision"),
]
