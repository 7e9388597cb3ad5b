"""The emulator's own HTTP endpoints, for processes that cannot hold the Python object
(benchmark workers, a demo started with ``dispatcher emulate``):

- ``POST /_emulator/failures`` (JSON of ``FailureRule`` fields) adds a rule, 201;
  ``GET`` lists the rules still able to apply; ``DELETE`` removes them all.
- ``POST /_emulator/latency`` ``{"seconds": x}`` sets the added latency.
- ``GET /_emulator/stats``: ``{"counts", "recipients", "requests", "max_per_second",
  "duplicates", "latency", "rate_limit_per_second"}`` (see ``Recorder.stats``).
- ``GET /_emulator/requests[?provider=P]``: every recorded request, as JSON.
- ``POST /_emulator/reset``: forget requests, rules and sent messages.
- ``POST /_emulator/callbacks`` (JSON of ``AutoCallbacks`` fields, ``{}`` for the defaults)
  turns the automatic status callbacks on, 201; ``GET`` answers ``{"settings", "pending",
  "attempts"}`` (settings null when off); ``DELETE`` turns them off.

Control requests are neither recorded nor delayed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from emulator.auto_callbacks import AutoCallbacks, CallbackAttempt
from emulator.failures import FailureRule
from emulator.messages import Incoming, Reply, json_reply
from emulator.records import RecordedRequest

PREFIX = "/_emulator/"


class Controllable(Protocol):
    """What the control endpoints change and read: the running emulator."""

    latency: float

    def add_failure(self, rule: FailureRule) -> None:
        """Add a failure rule."""

    def failure_rules(self) -> Sequence[FailureRule]:
        """The rules still able to apply."""
        ...

    def clear_failures(self) -> None:
        """Remove every failure rule."""

    def stats(self) -> dict[str, Any]:
        """Counts of what was received and answered."""
        ...

    def recorded(self, provider: str | None = None) -> Sequence[RecordedRequest]:
        """Every request received, only ``provider``'s when given."""
        ...

    def reset(self) -> None:
        """Forget requests, rules and sent messages."""

    def enable_callbacks(self, settings: AutoCallbacks) -> None:
        """Call back by itself, as ``settings`` say."""

    def disable_callbacks(self) -> None:
        """Stop calling back by itself."""

    @property
    def callback_settings(self) -> AutoCallbacks | None:
        """The automatic callbacks' settings, None when off."""
        ...

    def callback_attempts(self, provider: str | None = None) -> Sequence[CallbackAttempt]:
        """Every automatic callback POST so far."""
        ...

    def callbacks_pending(self) -> int:
        """Automatic callbacks still to post."""
        ...


def _reply(status: int, payload: Any) -> Reply:
    reply = json_reply("control", status, payload)
    reply.record = False
    return reply


def _json_body(req: Incoming) -> Any:
    try:
        return json.loads(req.body or b"null")
    except ValueError as exc:
        raise ValueError("expected a JSON body") from exc


def handle_control(emulator: Controllable, req: Incoming) -> Reply:
    """Answer one request under ``/_emulator/``; bad input answers 400 ``{"error"}``."""
    route = (req.method, req.path[len(PREFIX) :].rstrip("/"))
    try:
        if route == ("POST", "failures"):
            rule = FailureRule.from_dict(_json_body(req))
            emulator.add_failure(rule)
            return _reply(201, rule.to_dict())
        if route == ("GET", "failures"):
            return _reply(200, [rule.to_dict() for rule in emulator.failure_rules()])
        if route == ("DELETE", "failures"):
            emulator.clear_failures()
            return _reply(200, {"cleared": True})
        if route == ("POST", "latency"):
            body = _json_body(req)
            if not isinstance(body, dict) or not isinstance(body.get("seconds"), int | float):
                raise ValueError('expected {"seconds": number}')
            emulator.latency = float(body["seconds"])
            return _reply(200, {"seconds": emulator.latency})
        if route == ("GET", "stats"):
            return _reply(200, emulator.stats())
        if route == ("GET", "requests"):
            provider = req.query.get("provider") or None
            return _reply(200, [r.to_dict() for r in emulator.recorded(provider)])
        if route == ("POST", "callbacks"):
            settings = AutoCallbacks.from_dict(_json_body(req) or {})
            emulator.enable_callbacks(settings)
            return _reply(201, settings.to_dict())
        if route == ("GET", "callbacks"):
            current = emulator.callback_settings
            return _reply(
                200,
                {
                    "settings": current.to_dict() if current is not None else None,
                    "pending": emulator.callbacks_pending(),
                    "attempts": [a.to_dict() for a in emulator.callback_attempts()],
                },
            )
        if route == ("DELETE", "callbacks"):
            emulator.disable_callbacks()
            return _reply(200, {"callbacks": False})
        if route == ("POST", "reset"):
            emulator.reset()
            return _reply(200, {"reset": True})
    except ValueError as exc:
        return _reply(400, {"error": str(exc)})
    return _reply(404, {"error": f"no control endpoint {req.method} {req.path}"})
