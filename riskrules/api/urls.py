from django.urls import path

from riskrules.api import views

urlpatterns = [
    path("decisions", views.DecisionListView.as_view(), name="decisions"),
    path("decisions/<int:decision_id>", views.DecisionDetailView.as_view(), name="decision-detail"),
    path("decisions/<str:ruleset_code>", views.DecisionCreateView.as_view(), name="decision-create"),
]
