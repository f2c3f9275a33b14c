from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import api, ops, views
from .integrations import api as integrations_api

api_v1 = [
    path("deployments", api.DeploymentListApi.as_view(), name="api-deployment-list"),
    path("deployments/<slug:slug>", api.DeploymentDetailApi.as_view(), name="api-deployment-detail"),
    path("deployments/<slug:slug>/samples", api.SampleIngestApi.as_view(), name="api-samples"),
    path("deployments/<slug:slug>/drift-runs", api.DriftRunListCreateApi.as_view(), name="api-drift-runs"),
    path("deployments/<slug:slug>/drift-runs/<int:run_id>", api.DriftRunDetailApi.as_view(), name="api-drift-run"),
    path("deployments/<slug:slug>/drift-runs/<int:run_id>/retry", api.DriftRunRetryApi.as_view(),
         name="api-drift-run-retry"),
    path("deployments/<slug:slug>/baselines", api.BaselineListCreateApi.as_view(), name="api-baselines"),
    path("deployments/<slug:slug>/ingestion-keys", api.IngestionKeyListCreateApi.as_view(), name="api-ingestion-keys"),
    path("deployments/<slug:slug>/ingestion-keys/<str:prefix>/revoke", api.IngestionKeyRevokeApi.as_view(),
         name="api-ingestion-key-revoke"),
    path("tokens", api.PersonalTokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/<str:prefix>/revoke", api.PersonalTokenRevokeApi.as_view(), name="api-token-revoke"),
    path("deployments/<slug:slug>/quality", api.QualityEvidenceApi.as_view(), name="api-quality"),
    path("", include("goldenset.api_urls")),
    path("", include("feedback.api_urls")),
    path("", include("verdicts.api_urls")),
    path("", include("compliance.api_urls")),
]

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("deployments/", views.DeploymentListView.as_view(), name="deployment-list"),
    path("deployments/<slug:slug>/", views.DeploymentDetailView.as_view(), name="deployment-detail"),
    path("deployments/<slug:slug>/drift-runs/<int:run_id>/retry/", views.DriftRunRetryView.as_view(),
         name="drift-run-retry"),
    path("deployments/<slug:slug>/samples/<int:pk>/", views.SampleDetailView.as_view(), name="sample-detail"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("teams/<slug:team>/", views.TeamDetailView.as_view(), name="team-detail"),
    path("deployments/<slug:slug>/drift/", views.DriftOperationsView.as_view(), name="drift-operations"),
    path("deployments/<slug:slug>/drift/runs/<int:run_id>/", views.DriftRunDetailView.as_view(), name="drift-run-detail"),
    path("deployments/<slug:slug>/drift/baselines/<int:pk>/", views.BaselineDetailView.as_view(), name="baseline-detail"),
    path("", include("verdicts.urls")),
    path("", include("compliance.urls")),
    path("golden/", include("goldenset.urls")),
    path("feedback/", include("feedback.urls")),
    path("admin/", admin.site.urls),
    # The OTLP/HTTP trace receiver, at the standard path and at the paths other tools' receivers use, so an
    # exporter is repointed by changing only its endpoint. Langfuse-shaped JSON endpoints live in feedback.
    path("v1/traces", integrations_api.OtlpTracesApi.as_view(), name="otlp-traces"),
    path("otel/v1/traces", integrations_api.OtlpTracesApi.as_view(), name="otlp-traces-otel"),
    path("api/public/otel/v1/traces", integrations_api.OtlpTracesApi.as_view(), name="otlp-traces-langfuse"),
    path("", include("feedback.integrations_urls")),
    path("api/v1/", include(api_v1)),
    # Both behind sign-in (a session or a token: SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP forbids inline script.
    # A browser that is not signed in is sent to the sign-in page; API clients get 401 JSON.
    path("api/docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

handler500 = "drift_app.views.server_error"
