from django.urls import path

from . import views

app_name = "feedback"
urlpatterns = [
    path("answers/", views.SampleExplorerView.as_view(), name="sample-explorer"),
    path("mine/", views.MyFlagsView.as_view(), name="my-flags"),
    path("samples/<int:sample_pk>/flag/", views.FlagSampleView.as_view(), name="flag-sample"),
    path("triage/", views.TriageView.as_view(), name="triage"),
    path("flags/", views.FlagListView.as_view(), name="flag-list"),
    path("flags/<int:pk>/", views.FlagDetailView.as_view(), name="flag-detail"),
    path("flags/<int:pk>/claim/", views.ClaimView.as_view(), name="flag-claim"),
    path("flags/<int:pk>/release/", views.ReleaseView.as_view(), name="flag-release"),
    path("flags/<int:pk>/label/", views.LabelView.as_view(), name="flag-label"),
    path("flags/<int:pk>/adjudicate/", views.AdjudicateView.as_view(), name="flag-adjudicate"),
    path("flags/<int:pk>/promote/", views.PromoteView.as_view(), name="flag-promote"),
    path("flags/<int:pk>/submit/", views.SubmitPromotionView.as_view(), name="flag-submit"),
    path("agreement/", views.AgreementView.as_view(), name="agreement"),
    path("metrics/<slug:slug>/", views.MetricsView.as_view(), name="metrics"),
]
