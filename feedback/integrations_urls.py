"""Routes in the shapes tracing tools post to (mounted at the site root by drift_app/urls.py)."""

from django.urls import path

from . import integrations_api

urlpatterns = [
    path("api/public/ingestion", integrations_api.LangfuseIngestionApi.as_view(), name="langfuse-ingestion"),
    path("api/public/scores", integrations_api.LangfuseScoresApi.as_view(), name="langfuse-scores"),
    path("v1/span_annotations", integrations_api.PhoenixSpanAnnotationsApi.as_view(), name="phoenix-span-annotations"),
]
