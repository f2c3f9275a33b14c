from django.urls import path

from . import views

app_name = "goldenset"
urlpatterns = [
    path("", views.ItemListView.as_view(), name="item-list"),
    path("items/new/", views.ItemCreateView.as_view(), name="item-create"),
    path("items/<int:pk>/", views.ItemDetailView.as_view(), name="item-detail"),
    path("items/<int:pk>/edit/", views.ItemEditView.as_view(), name="item-edit"),
    path("review/", views.ReviewQueueView.as_view(), name="review-queue"),
    path("versions/", views.VersionListView.as_view(), name="version-list"),
    path("versions/diff/", views.VersionDiffView.as_view(), name="version-diff"),
    path("versions/<int:number>/", views.VersionDetailView.as_view(), name="version-detail"),
    path("import/", views.ImportView.as_view(), name="import"),
    path("export.<str:fmt>", views.ExportView.as_view(), name="export"),
    path("evaluations/", views.DeploymentIndexView.as_view(), name="deployments"),
    path("deployments/<slug:slug>/runs/", views.RunListView.as_view(), name="run-list"),
    path("deployments/<slug:slug>/coverage/", views.CoverageView.as_view(), name="coverage"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/retry/", views.RunRetryView.as_view(), name="run-retry"),
    path("deployments/<slug:slug>/judge-calibration/", views.JudgeCalibrationView.as_view(), name="judge-calibration"),
]
