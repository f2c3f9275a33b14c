from django.urls import path

from . import api

urlpatterns = [
    path("flags", api.FlagListCreateApi.as_view(), name="api-flag-list"),
    path("flags/<int:pk>", api.FlagDetailApi.as_view(), name="api-flag-detail"),
    path("flags/<int:pk>/claim", api.FlagClaimApi.as_view(), name="api-flag-claim"),
    path("flags/<int:pk>/labels", api.FlagLabelApi.as_view(), name="api-flag-labels"),
    path("flags/<int:pk>/adjudication", api.FlagAdjudicationApi.as_view(), name="api-flag-adjudication"),
    path("flags/<int:pk>/promotion", api.FlagPromotionApi.as_view(), name="api-flag-promotion"),
    path("feedback/triage", api.TriageApi.as_view(), name="api-feedback-triage"),
    path("feedback/agreement", api.AgreementApi.as_view(), name="api-feedback-agreement"),
    path("deployments/<slug:slug>/feedback-metrics", api.FeedbackMetricsApi.as_view(), name="api-feedback-metrics"),
]
