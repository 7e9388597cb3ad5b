"""A google-auth transport that reaches loopback addresses only.

google-auth (2.4x and later) follows a service-account token refresh with a background
"Regional Access Boundary" lookup at ``https://iamcredentials.googleapis.com/...``. Against
the emulator that would be traffic to the internet. Passing ``LoopbackOnlyRequest()`` as the
``auth_request`` of ``AuthorizedSession`` (or to ``credentials.refresh``/``before_request``)
keeps every call local: requests to other hosts are answered 404 on the spot, without any
network access, which google-auth treats as "no boundary" and stops asking for a while.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from google.auth import transport
from google.auth.transport import requests as google_requests


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Refused(transport.Response):
    """A 404 made up locally for a request that was never sent."""

    @property
    def status(self) -> int:
        return 404

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Content-Type": "application/json"}

    @property
    def data(self) -> bytes:
        message = "not sent: the emulator's transport reaches loopback addresses only"
        return json.dumps({"error": message}).encode()


class LoopbackOnlyRequest(transport.Request):
    """``google.auth.transport.requests.Request`` that never leaves this machine."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self._inner = google_requests.Request(session)
        self.refused: list[str] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> LoopbackOnlyRequest:
        """google-auth deep-copies the transport for its background lookup: the copy gets a
        session of its own but shares ``refused``.
        """
        clone = LoopbackOnlyRequest()
        clone.refused = self.refused
        return clone

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        """Send to a loopback ``url``; answer anything else with a local 404 (and remember
        its host in ``refused``).
        """
        if not is_loopback(url):
            self.refused.append(urlsplit(url).hostname or "")
            return _Refused()
        if timeout is not None:
            kwargs["timeout"] = timeout
        response: transport.Response = self._inner(
            url, method=method, body=body, headers=headers, **kwargs
        )
        return response
