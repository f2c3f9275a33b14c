from django.urls import path

from . import api

urlpatterns = [
    path("compliance/reports", api.ReportListApi.as_view(), name="api-compliance-reports"),
    path("compliance/reports/<int:pk>", api.ReportDetailApi.as_view(), name="api-compliance-report"),
    path("compliance/reports/<int:pk>/verify", api.ReportVerifyApi.as_view(), name="api-compliance-report-verify"),
    path("compliance/reports/<int:pk>/<str:fmt>", api.ReportDownloadApi.as_view(), name="api-compliance-report-download"),
    path("compliance/audit", api.AuditEventListApi.as_view(), name="api-compliance-audit"),
    path("compliance/audit/verify", api.AuditVerifyApi.as_view(), name="api-compliance-audit-verify"),
    path("compliance/audit.csv", api.AuditExportApi.as_view(), name="api-compliance-audit-csv"),
]
