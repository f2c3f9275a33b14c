from django.urls import path

from . import api

urlpatterns = [
    path("golden/items", api.ItemListApi.as_view(), name="api-golden-items"),
    path("golden/items/approve", api.ItemBulkApproveApi.as_view(), name="api-golden-items-approve"),
    path("golden/items/<int:pk>", api.ItemDetailApi.as_view(), name="api-golden-item"),
    path("golden/items/<int:pk>/history", api.ItemHistoryApi.as_view(), name="api-golden-item-history"),
    path("golden/items/<int:pk>/submit", api.ItemSubmitApi.as_view(), name="api-golden-item-submit"),
    path("golden/items/<int:pk>/approve", api.ItemApproveApi.as_view(), name="api-golden-item-approve"),
    path("golden/items/<int:pk>/reject", api.ItemRejectApi.as_view(), name="api-golden-item-reject"),
    path("golden/items/<int:pk>/retire", api.ItemRetireApi.as_view(), name="api-golden-item-retire"),
    path("golden/items/<int:pk>/acknowledge-pii", api.ItemAcknowledgePiiApi.as_view(), name="api-golden-item-ack-pii"),
    path("golden/import", api.ImportApi.as_view(), name="api-golden-import"),
    path("golden/export", api.ExportApi.as_view(), name="api-golden-export"),
    path("golden/versions", api.VersionListApi.as_view(), name="api-golden-versions"),
    path("golden/versions/<int:number>", api.VersionDetailApi.as_view(), name="api-golden-version"),
    path("golden/versions/<int:old>/diff/<int:new>", api.VersionDiffApi.as_view(), name="api-golden-version-diff"),
    path("golden/runs/<int:pk>", api.RunDetailApi.as_view(), name="api-golden-run"),
    path("golden/runs/<int:pk>/retry", api.RunRetryApi.as_view(), name="api-golden-run-retry"),
    path("golden/runs/<int:pk>/baseline", api.RunBaselineApi.as_view(), name="api-golden-run-baseline"),
    path("deployments/<slug:slug>/golden/runs", api.RunListApi.as_view(), name="api-golden-runs"),
    path("deployments/<slug:slug>/golden/config", api.ConfigApi.as_view(), name="api-golden-config"),
    path("deployments/<slug:slug>/golden/judge-calibration", api.JudgeCalibrationApi.as_view(),
         name="api-golden-judge-calibration"),
    path("deployments/<slug:slug>/golden/results/<int:pk>/calibration-label", api.CalibrationLabelApi.as_view(),
         name="api-golden-calibration-label"),
    path("deployments/<slug:slug>/golden/coverage-gaps", api.CoverageGapsApi.as_view(), name="api-golden-coverage"),
]
