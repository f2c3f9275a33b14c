"""Pages. The lead includes these at the site root: path("", include("verdicts.urls"))."""

from django.urls import path

from . import views

app_name = "verdicts"
urlpatterns = [
    path("deployments/<slug:slug>/dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("verdicts/", views.VerdictListView.as_view(), name="verdict-list"),
    path("verdicts/<int:pk>/", views.VerdictDetailView.as_view(), name="verdict-detail"),
    path("alerts/", views.AlertListView.as_view(), name="alert-list"),
    path("alerts/review/", views.ReviewQueueView.as_view(), name="review-queue"),
    path("alerts/<int:pk>/", views.AlertDetailView.as_view(), name="alert-detail"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/<int:pk>/resolve/", views.AlertResolveView.as_view(), name="alert-resolve"),
    path("retraining/<int:pk>/", views.AdviceDetailView.as_view(), name="advice-detail"),
    path("retraining/<int:pk>/prompts.jsonl", views.AdviceExportView.as_view(), name="advice-export"),
]
