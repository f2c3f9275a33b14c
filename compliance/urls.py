from django.urls import path

from . import views

app_name = "compliance"
urlpatterns = [
    path("compliance/reports/", views.ReportListView.as_view(), name="report-list"),
    path("compliance/reports/<int:pk>/", views.ReportDetailView.as_view(), name="report-detail"),
    path("compliance/reports/<int:pk>/download.<str:fmt>", views.ReportDownloadView.as_view(), name="report-download"),
    path("compliance/jobs/<int:pk>/", views.ReportJobView.as_view(), name="report-job"),
    path("compliance/audit/", views.AuditListView.as_view(), name="audit-list"),
    path("compliance/audit/export.csv", views.AuditExportView.as_view(), name="audit-export"),
]
