from django.urls import path

from lending import views_lines

urlpatterns = [
    path("", views_lines.line_list, name="line_list"),
    path("<int:line_id>/draw/", views_lines.drawdown_new, name="drawdown_new"),
    path("drawdowns/<int:drawdown_id>/", views_lines.drawdown_result, name="drawdown_result"),
]
