"""Telling a lost answer (the provider may have the message) from a refused connection."""

from __future__ import annotations

import http.client

import httpx
import requests

from dispatcher.channels.errors import answer_lost


def _raised_from(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


def test_a_connection_closed_before_the_answer_is_a_lost_answer() -> None:
    dropped = _raised_from(
        requests.ConnectionError("Connection aborted."),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
    )
    assert answer_lost(dropped)
    assert answer_lost(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    assert answer_lost(ConnectionResetError(104, "Connection reset by peer"))


def test_a_refused_connection_is_not_a_lost_answer() -> None:
    refused = _raised_from(
        requests.ConnectionError("Max retries exceeded"), ConnectionRefusedError(111, "refused")
    )
    assert not answer_lost(refused)
    assert not answer_lost(httpx.ConnectError("All connection attempts failed"))
