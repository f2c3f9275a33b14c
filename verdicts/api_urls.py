"""API. The lead includes these under /api/v1/: path("", include("verdicts.api_urls"))."""

from django.urls import path

from . import api

urlpatterns = [
    path("deployments/<slug:slug>/verdicts", api.VerdictListComputeApi.as_view(), name="api-verdicts"),
    path("deployments/<slug:slug>/alerts", api.AlertListApi.as_view(), name="api-alerts"),
    path("alerts/<int:pk>", api.AlertDetailApi.as_view(), name="api-alert"),
    path("alerts/<int:pk>/acknowledge", api.AlertAcknowledgeApi.as_view(), name="api-alert-acknowledge"),
    path("alerts/<int:pk>/resolve", api.AlertResolveApi.as_view(), name="api-alert-resolve"),
    path("retraining-advice/<int:pk>/prompts.jsonl", api.AdviceExportApi.as_view(), name="api-advice-export"),
]
