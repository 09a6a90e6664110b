"""Unknown paths under the API answer in Exponea's error shape; pages keep the HTML 404."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/track/v2/projects/whatever/no-such-endpoint",
        "/data/v2/projects/whatever/customers/no-such-endpoint",
        "/track/v3/",
    ],
)
def test_unknown_api_path_is_a_json_404(client: Any, path: str) -> None:
    response = client.post(path, data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"success": False, "errors": ["Not found."]}


def test_unknown_page_is_an_html_404(client: Any) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
