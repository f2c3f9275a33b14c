"""drift_app.urls plus the verdicts URLs, unless drift_app.urls includes them already (see wiring_settings)."""

from django.urls import include, path

from drift_app.urls import api_v1, urlpatterns as _base

_names = {getattr(p, "app_name", None) or getattr(p, "namespace", None) for p in _base}
urlpatterns = list(_base)
if "verdicts" not in _names:
    urlpatterns = [path("", include("drift_app.verdicts.urls")), path("api/v1/", include("drift_app.verdicts.api_urls")), *urlpatterns]
