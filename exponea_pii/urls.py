"""Root URLs: the app's pages per project, the Exponea-compatible API, admin and API docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from access import views as access_views
from access import views_account as access_views_account

project_pages = [
    path("", include("access.urls")),
    path("data-manager/", include("datamanager.urls")),
    path("customers/", include("customers.urls")),
    path("access-log/", include("accountability.urls")),
]

data_api = [
    path("customers/", include("customers.api.data_urls")),
    path("customers/", include("customers.api.anonymize_urls")),
    path("customers/", include("accountability.api_urls")),
    path("data-manager/", include("datamanager.api.urls")),
]

# API tokens are matched as plain strings so a malformed token gets the API's JSON 404
# (ProjectAPIView resolves it) instead of Django's HTML page.
urlpatterns = [
    path("", access_views.home, name="home"),
    # Before Django's own: the password change counts wrong old passwords like sign-ins.
    path(
        "accounts/password_change/",
        access_views_account.ThrottledPasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("projects/<uuid:token>/", include(project_pages)),
    path("track/v2/projects/<str:token>/", include("customers.api.tracking_urls")),
    path("data/v2/projects/<str:token>/", include(data_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "access.api.exceptions.api_aware_page_not_found"
handler500 = "access.api.exceptions.api_aware_server_error"
