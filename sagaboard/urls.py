from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from demo.views import LedgerApi
from designer.api_urls import urlpatterns as designer_api
from designer.audit_views import audit_log
from engine.api_urls import urlpatterns as engine_api
from engine.metrics import metrics_view
from sagaboard.auth import TokenApi
from sagaboard.health import healthz

api_patterns = [
    path("auth/token/", TokenApi.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("demo/ledger/", LedgerApi.as_view(), name="demo-ledger"),
    *designer_api,
    *engine_api,
]

handler404 = "common.api.not_found"


class SignOutView(auth_views.LogoutView):
    """Django's, and the sign-in page it leads to says it is done."""

    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have signed out.")
        return response


urlpatterns = [
    # Operators live on the board; authors are one click away, in the nav.
    path("", RedirectView.as_view(pattern_name="engine:board"), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("workflows/", include(("designer.urls", "designer"), namespace="designer")),
    path("audit/", audit_log, name="audit"),
    path("api/", include((api_patterns, "api"), namespace="api")),
    path("demo/", include(("demo.urls", "demo"), namespace="demo")),
    path("", include(("engine.urls", "engine"), namespace="engine")),
]
