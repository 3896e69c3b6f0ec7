from django.urls import path

from performance.api import views

urlpatterns = [
    path("performance/periods", views.PeriodListView.as_view(), name="performance-periods"),
    path("performance/periods/<int:period_id>/results", views.PeriodResultsView.as_view(), name="performance-period-results"),
]
