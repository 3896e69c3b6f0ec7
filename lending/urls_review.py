"""/loans/review/: the reviewer's workbench (人工审核工作台) for staff."""

from django.urls import path

from lending import views_review

app_name = "review"

urlpatterns = [
    path("", views_review.workbench, name="workbench"),
    path("claim-next/", views_review.claim_next, name="claim_next"),
    path("tasks/<int:task_id>/", views_review.task_detail, name="task"),
    path("tasks/<int:task_id>/claim/", views_review.task_claim, name="claim"),
    path("tasks/<int:task_id>/release/", views_review.task_release, name="release"),
    path("tasks/<int:task_id>/decide/", views_review.task_decide, name="decide"),
]
