"""Root URLs: the app's pages per project, the Exponea-compatible API, admin and API docs."""

from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from access import views as access_views
from access import views_account as access_views_account
from access import views_invitations as access_views_invitations
from access.api.fallback_views import api_not_found, out_of_scope

project_pages = [
    path("", include("access.urls")),
    path("data-manager/", include("datamanager.urls")),
    path("customers/", include("customers.urls")),
    path("access-log/", include("accountability.urls")),
    path("retention/", include("retention.urls")),
    path("segments/", include("segments.urls")),
    path("consents/", include("consents.urls")),
]

data_api: list[URLPattern | URLResolver] = [
    path("customers/", include("customers.api.data_urls")),
    path("customers/", include("customers.api.anonymize_urls")),
    path("customers/", include("accountability.api_urls")),
    path("data-manager/", include("datamanager.api.urls")),
    path("consent/", include("consents.api_urls")),
    path("access-keys/", include("access.api.authorization_urls")),
    # In the SDK but not about customer data (docs/api-compatibility.md).
    re_path(r"^catalogs(?:/(?P<rest>.*))?$", out_of_scope("catalogs")),
    re_path(r"^analyses(?:/(?P<rest>.*))?$", out_of_scope("analyses")),
]

# drf-spectacular's Swagger page has one inline <style> (box-sizing, background): allowed by
# its hash on this page only. tests/browser/test_tour.py fails on any CSP violation there.
SWAGGER_STYLE_HASH = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"
swagger_page = csp_update({"style-src": [SWAGGER_STYLE_HASH]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

# Django's account pages without the anonymous "e-mail me a reset link" form: the site
# sends no such mail (a reset is an admin's job), and the form was an unauthenticated
# surface that tried to. The reset-confirm pages stay: they need a signed token.
ANONYMOUS_RESET_PAGES = {"password_reset", "password_reset_done"}
account_pages = [
    page
    for page in auth_urls.urlpatterns
    if getattr(page, "name", None) not in ANONYMOUS_RESET_PAGES
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
    path("accounts/", include(account_pages)),
    path("invitations/", access_views_invitations.InvitationsView.as_view(), name="invitations"),
    path(
        "invitations/<int:invitation_id>/accept/",
        access_views_invitations.InvitationAnswerView.as_view(accept=True),
        name="invitation_accept",
    ),
    path(
        "invitations/<int:invitation_id>/decline/",
        access_views_invitations.InvitationAnswerView.as_view(accept=False),
        name="invitation_decline",
    ),
    path("admin/", admin.site.urls),
    path("projects/<uuid:token>/", include(project_pages)),
    path("track/v2/projects/<str:token>/", include("customers.api.tracking_urls")),
    path("data/v2/projects/<str:token>/", include(data_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from this URL (?script), so the page runs
    # under the Content-Security-Policy's script-src 'self' (the inline one stayed blank).
    path("api/docs/", swagger_page, name="api-docs"),
    # Last: every other path under the API answers JSON, also with DEBUG on.
    re_path(r"^(?:track|data)/(?P<rest>.*)$", api_not_found),
]

handler404 = "access.api.exceptions.api_aware_page_not_found"
handler500 = "access.api.exceptions.api_aware_server_error"
