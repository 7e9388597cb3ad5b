"""Issue 15, problem 9: ``/docs`` (and ``/redoc``) work on a server without internet. Every
script, style sheet, image and link the pages load is the app's own (same origin, no
``http://`` or ``https://`` address, no ``//host``), and each of them is served."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from dispatcher.web.app import create_app


class _References(HTMLParser):
    """Every src and href of a page, and the URLs its inline scripts name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += re.findall(r"""(?:url|src|href)\s*:\s*['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"""https?://[^\s'"]+""", data)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://dispatch.internal")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_same_origin_assets(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    urls = references(answer.text)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert "cdn" not in url and "fonts.googleapis" not in url, url
    assert "validator.swagger.io" not in answer.text
    for url in urls:
        served = client.get(url)
        assert served.status_code == 200, url
        assert served.content, url


def test_the_openapi_document_the_page_reads_is_served(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "'/openapi.json'" in page or '"/openapi.json"' in page
    assert client.get("/openapi.json").json()["info"]["title"] == "School notification dispatcher"
