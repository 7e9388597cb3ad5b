"""One error shape for the API: ``{"detail": [{"field": ..., "message": ...}]}``.

``field`` says where the problem is: ``body.category``, ``body.audience.0``,
``query.school``, ``path.announcement_id``, ``header.Authorization``,
``header.Idempotency-Key``... ``message`` says what is wrong in words an office can act on.
Validation errors (422) may list several fields; every other error lists one.

Every route answers in this shape, webhooks included: a body that cannot be read as JSON
(not UTF-8, nested too deep) is 400 ``body``; a database that cannot be reached is 503
``database`` with ``Retry-After`` (never a 500), so a client or a provider tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("dispatcher.web.errors")

#: How long a client is asked to wait (``Retry-After``) when the database is unavailable.
RETRY_AFTER_SECONDS: Final = 30
#: The field and message of a body that cannot be read as JSON.
UNREADABLE_BODY: Final = (
    "body",
    "cannot be read as JSON: it must be UTF-8 and not nested too deep",
)
#: FastAPI's own detail when ``request.json()`` fails other than by JSON syntax (the body is
#: not UTF-8, or nested deeper than Python's parser goes).
_FASTAPI_BODY_ERROR: Final = "There was an error parsing the body"


class ErrorItem(BaseModel):
    """One thing wrong with a request."""

    field: str = Field(
        description="Where: `body.<field>` (with list positions, e.g. `body.audience.0`), "
        "`query.<name>`, `path.<name>` or `header.<name>`.",
        examples=["body.category"],
    )
    message: str = Field(
        description="What is wrong and what is expected.",
        examples=["unknown category 'snow_day' (known: emergency_closure, ...)"],
    )


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    detail: list[ErrorItem] = Field(
        description="The problems found (at least one).",
        examples=[[{"field": "body.category", "message": "unknown category 'snow_day'"}]],
    )


class ApiError(Exception):
    """Raised by a route: answered with ``status`` and the standard error body."""

    def __init__(
        self,
        status: int,
        field: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message
        self.headers = headers


def error_response(
    status: int, items: Sequence[tuple[str, str]], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A response with the standard error body."""
    body = {"detail": [{"field": field, "message": message} for field, message in items]}
    return JSONResponse(body, status_code=status, headers=headers)


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "audience", 0)`` -> ``body.audience.0``."""
    return ".".join(str(part) for part in loc) or "body"


def _validation_message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        (field_path(tuple(error.get("loc", ()))), _validation_message(error))
        for error in exc.errors()
    ]
    return error_response(422, items or [("body", "invalid request")])


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, [(exc.field, exc.message)], exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # The router's own 404 (no such path) and 405 (method not allowed), and FastAPI's 400 for
    # a body it could not parse, get the standard body; so does any other HTTPException with
    # a text detail. One with another detail is answered as FastAPI would.
    if exc.status_code in _ROUTING_FIELDS and exc.detail == HTTPStatus(exc.status_code).phrase:
        field, message = _ROUTING_FIELDS[exc.status_code]
        return error_response(exc.status_code, [(field, message)], exc.headers)
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
        return error_response(400, [UNREADABLE_BODY], exc.headers)
    if isinstance(exc.detail, str):
        return error_response(exc.status_code, [("request", exc.detail)], exc.headers)
    return await http_exception_handler(request, exc)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (connection refused or lost,
    no connection free in the pool, the server shutting down, SQLite locked), as opposed to
    a query the database refused."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _on_database_error(request: Request, exc: Exception) -> Response:
    if not database_unavailable(exc):
        raise exc
    # The class only: SQLAlchemy's message quotes the statement's parameters (personal data).
    log.warning(
        "%s %s answered 503: database unavailable (%s)",
        request.method,
        request.url.path,
        type(exc).__name__,
    )
    return error_response(
        503,
        [("database", "the database is unavailable; try again in a little while")],
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


_ROUTING_FIELDS = {
    404: ("path", "no such URL; see /docs for the API"),
    405: ("method", "this URL does not take that method; the Allow header lists those it takes"),
}


def install_error_handlers(app: FastAPI) -> None:
    """Answer request validation errors (422), ``ApiError``, HTTP exceptions (the router's
    404/405, unreadable bodies) and an unavailable database (503) with the standard body."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeoutError, _on_database_error)


#: For a route's ``responses=``: documents the error statuses it may answer.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of ``statuses``, each with the standard error body."""
    descriptions = {
        400: "The request is malformed.",
        401: "No token, an unknown token or a revoked token (`header.Authorization`); for "
        "MIS webhooks a missing, stale or wrong signature.",
        403: "The token may not do this (another school, or a category or audience its role "
        "does not allow); the message says why.",
        404: "No such announcement or school.",
        409: "The `Idempotency-Key` was used before with a different request body.",
        422: "A field is missing or wrong; `field` names it.",
        503: "The database is unavailable (`field` is `database`); try again after the "
        "`Retry-After` header's seconds.",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses
    }
