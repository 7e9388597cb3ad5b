"""``ProviderEmulator``: one local HTTP server speaking Twilio, SendGrid, FCM and Google
OAuth, recording what it receives and failing on request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulator import callbacks
from emulator.auto_callbacks import (
    AutoCallbacks,
    CallbackAttempt,
    CallbackSender,
    SendGridBatcher,
    idempotency_token,
)
from emulator.control import PREFIX, handle_control
from emulator.failures import FailureBook, FailureRule
from emulator.fcm_api import FcmApi
from emulator.messages import Incoming, Reply, json_reply
from emulator.oauth_api import TOKEN_PATH, OAuthApi
from emulator.records import RecordedRequest, Recorder, message_delivery_ids, redact_headers
from emulator.sendgrid_api import SendGridApi, delivered_emails
from emulator.server import EmulatorHTTPServer
from emulator.signing import EmulatorKeys, twilio_signature
from emulator.twilio_api import TwilioApi

#: An SMTP enhanced status code (RFC 3463) inside a bounce reason, e.g. ``5.1.1``.
_SMTP_STATUS = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


class ProviderEmulator:
    """A local stand-in for Twilio, SendGrid and FCM (with Google's token endpoint).

    Use as a context manager, or ``start()`` / ``stop()``. Every request to a provider
    endpoint is recorded (``requests``), delayed by ``latency`` and checked against the
    failure rules after authentication and validation. Credentials are the class defaults
    unless the constructor is given others. With ``callbacks`` (or ``enable_callbacks``) it
    posts Twilio status callbacks and SendGrid event batches by itself, as the providers do
    (``emulator.auto_callbacks``).
    """

    #: Credentials: class defaults, replaced on the instance by the constructor's arguments.
    TWILIO_ACCOUNT_SID: str = "AC" + "0" * 32
    TWILIO_AUTH_TOKEN: str = "emulator-twilio-token"
    SENDGRID_API_KEY: str = "SG.emulator-key"
    FCM_PROJECT_ID: str = "emulator-project"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        rate_limit_per_second: int | None = None,
        twilio_account_sid: str | None = None,
        twilio_auth_token: str | None = None,
        sendgrid_api_key: str | None = None,
        fcm_project_id: str | None = None,
        seed: int | None = None,
        callbacks: AutoCallbacks | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.rate_limit_per_second = rate_limit_per_second
        self.TWILIO_ACCOUNT_SID = twilio_account_sid or self.TWILIO_ACCOUNT_SID
        self.TWILIO_AUTH_TOKEN = twilio_auth_token or self.TWILIO_AUTH_TOKEN
        self.SENDGRID_API_KEY = sendgrid_api_key or self.SENDGRID_API_KEY
        self.FCM_PROJECT_ID = fcm_project_id or self.FCM_PROJECT_ID
        self.fcm_client_email = f"emulator-sender@{self.FCM_PROJECT_ID}.iam.gserviceaccount.com"
        self._keys = EmulatorKeys()
        self._recorder = Recorder()
        self._failures = FailureBook(seed)
        self._twilio = TwilioApi(self.TWILIO_ACCOUNT_SID, self.TWILIO_AUTH_TOKEN, self._failures)
        self._sendgrid = SendGridApi(self.SENDGRID_API_KEY, self._failures)
        self._oauth = OAuthApi(self.fcm_client_email, self._keys.rsa_public_pem, self._failures)
        self._fcm = FcmApi(self.FCM_PROJECT_ID, self._oauth, self._failures)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._callbacks_lock = threading.Lock()
        self._sender: CallbackSender | None = None
        self._batcher: SendGridBatcher | None = None
        if callbacks is not None:
            self.enable_callbacks(callbacks)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> ProviderEmulator:
        """Bind and serve in a background thread; ``url`` is valid from now on."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = EmulatorHTTPServer(
            (self.host, self.port), self._answer, self._record, lambda: self.latency
        )
        self.port = int(server.server_address[1])
        shown_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        self._url = f"http://{shown_host}:{self.port}"
        self._oauth.port = self.port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="provider-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections (and any hanging timeout) and release the port."""
        self.disable_callbacks()
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ProviderEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running emulator (no trailing slash)."""
        if self._url is None:
            raise RuntimeError("the emulator has not been started")
        return self._url

    @property
    def latency(self) -> float:
        """Seconds added before every provider answer; may be changed while running."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency: expected seconds, 0 or more")
        self._latency = float(seconds)

    # --- records --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far (refused and failed ones too)."""
        return self._recorder.snapshot()

    def recorded(self, provider: str | None = None) -> list[RecordedRequest]:
        """Every request received so far, only ``provider``'s when given."""
        return self._recorder.snapshot(provider)

    def messages(self, provider: str) -> list[RecordedRequest]:
        """The sends ``provider`` accepted (2xx answers to POSTs), oldest first."""
        return self._recorder.accepted(provider)

    def accepted_delivery_ids(self, provider: str) -> list[str]:
        """The delivery id of every message ``provider`` accepted, one per message (a SendGrid
        request with several personalizations carries several): from the Twilio
        ``StatusCallback`` URL, SendGrid's ``custom_args`` and FCM's ``data``; "?" where a
        message carries none."""
        ids: list[str] = []
        for record in self.messages(provider):
            ids.extend(message_delivery_ids(provider, record))
        return ids

    def max_requests_in_any_second(self, provider: str | None = None) -> int:
        """The most requests (of ``provider``, or of all) that arrived within any one-second
        window (sliding, not calendar seconds), whatever they were answered.
        """
        return self._recorder.max_per_second(provider)

    def stats(self) -> dict[str, Any]:
        """What ``GET /_emulator/stats`` answers."""
        summary = self._recorder.stats()
        summary["latency"] = self.latency
        summary["rate_limit_per_second"] = self.rate_limit_per_second
        return summary

    # --- failures -------------------------------------------------------------------------

    def add_failure(self, rule: FailureRule) -> None:
        """Add a failure rule (after those already added)."""
        self._failures.add(rule)

    def clear_failures(self) -> None:
        """Remove every failure rule."""
        self._failures.clear()

    def failure_rules(self) -> list[FailureRule]:
        """The rules still able to apply."""
        return self._failures.rules()

    def reset(self) -> None:
        """Forget recorded requests, failure rules and sent messages (issued tokens stay)."""
        self._recorder.clear()
        self._failures.clear()
        self._twilio.clear()
        self._sendgrid.clear()
        settings = self.callback_settings
        if settings is not None:
            self.enable_callbacks(settings)  # a new sender: no pending callbacks, no attempts

    # --- credentials ----------------------------------------------------------------------

    def fcm_service_account_info(self) -> dict[str, str]:
        """A service-account JSON dict for ``google.oauth2.service_account.Credentials.
        from_service_account_info``; its ``token_uri`` is this emulator's ``/token``.
        """
        return {
            "type": "service_account",
            "project_id": self.FCM_PROJECT_ID,
            "private_key_id": self._keys.rsa_key_id,
            "private_key": self._keys.rsa_private_pem(),
            "client_email": self.fcm_client_email,
            "client_id": "100000000000000000000",
            "auth_uri": f"{self.url}/o/oauth2/auth",
            "token_uri": f"{self.url}{TOKEN_PATH}",
            "auth_provider_x509_cert_url": f"{self.url}/oauth2/v1/certs",
            "client_x509_cert_url": f"{self.url}/robot/v1/metadata/x509/{self.fcm_client_email}",
            "universe_domain": "googleapis.com",
        }

    @property
    def sendgrid_webhook_public_key(self) -> str:
        """The Signed Event Webhook verification key, base64 DER, as SendGrid shows it."""
        return self._keys.sendgrid_public_key()

    # --- callbacks ------------------------------------------------------------------------

    def twilio_status_callback(
        self, message_sid: str, status: str, error_code: str | None = None
    ) -> int:
        """POST a status callback for message ``message_sid`` to the StatusCallback URL its
        send gave, with Twilio's form parameters and ``X-Twilio-Signature``; the stored
        message takes the new status. Returns the HTTP status the receiver answered.
        Raises LookupError (unknown message, or sent without StatusCallback).
        """
        url, params = self._twilio.status_update(message_sid, status, error_code)
        signature = twilio_signature(self.TWILIO_AUTH_TOKEN, url, params)
        return callbacks.post_twilio_callback(url, params, signature)

    def sendgrid_event_batch(self, url: str, events: list[dict[str, Any]]) -> int:
        """POST ``events`` (a JSON array, sent as given) to ``url``, signed like SendGrid's
        Signed Event Webhook. Returns the HTTP status the receiver answered.
        """
        payload, timestamp = callbacks.sendgrid_batch_body(events)
        signature = self._keys.sign_sendgrid_payload(timestamp, payload)
        return callbacks.post_sendgrid_batch(url, payload, timestamp, signature)

    def sendgrid_events_for(
        self, message_id: str, event: str, **extra: Any
    ) -> list[dict[str, Any]]:
        """Realistic Event Webhook events (one per recipient) for the accepted send whose
        ``X-Message-Id`` is ``message_id``: ``email``, ``timestamp``, ``event``,
        ``sg_event_id``, ``sg_message_id``, ``smtp-id``, ``category``, the send's
        ``custom_args`` at the top level, then ``extra`` (e.g. ``reason``, ``type``).
        """
        return self._sendgrid.events_for(message_id, event, extra)

    def sendgrid_emails(self) -> list[dict[str, Any]]:
        """Every email the accepted SendGrid sends delivered, oldest first: one per
        personalization, as its recipient reads it (substitutions applied); see
        ``sendgrid_api.delivered_emails``."""
        return [
            email
            for record in self.messages("sendgrid")
            if isinstance(record.json, dict)
            for email in delivered_emails(record.json)
        ]

    def sendgrid_message_ids(self) -> list[str]:
        """The ``X-Message-Id`` of every accepted SendGrid send, oldest first."""
        return self._sendgrid.message_ids()

    # --- automatic callbacks --------------------------------------------------------------

    def enable_callbacks(self, settings: AutoCallbacks) -> None:
        """Call back by itself from now on, as ``settings`` say (replacing earlier settings;
        callbacks still pending under those are dropped)."""
        sender = CallbackSender(settings)
        batcher = SendGridBatcher(
            sender,
            settings.sendgrid_batch_size,
            settings.sendgrid_batch_seconds,
            lambda batch: self._post_sendgrid_batch(sender, batch),
        )
        with self._callbacks_lock:
            old, self._sender, self._batcher = self._sender, sender, batcher
        if old is not None:
            old.stop()

    def disable_callbacks(self) -> None:
        """Stop calling back by itself (pending callbacks are dropped)."""
        with self._callbacks_lock:
            old, self._sender, self._batcher = self._sender, None, None
        if old is not None:
            old.stop()

    @property
    def callback_settings(self) -> AutoCallbacks | None:
        """The automatic callbacks' settings, None when they are off."""
        sender = self._sender
        return sender.settings if sender is not None else None

    def callback_attempts(self, provider: str | None = None) -> list[CallbackAttempt]:
        """Every automatic callback POST so far (since callbacks were enabled or the last
        reset), oldest first; only ``provider``'s (``twilio``, ``sendgrid``) when given."""
        sender = self._sender
        return sender.attempts(provider) if sender is not None else []

    def callbacks_pending(self) -> int:
        """Automatic callbacks still to post (scheduled, retrying or being posted)."""
        sender = self._sender
        return sender.pending() if sender is not None else 0

    def wait_for_callbacks(self, timeout: float) -> bool:
        """Wait until no automatic callback is pending; False if ``timeout`` passed first."""
        sender = self._sender
        return sender.wait_idle(timeout) if sender is not None else True

    def _schedule_callbacks(self, reply: Reply) -> None:
        """After an accepted send: its callbacks, if automatic callbacks are on."""
        with self._callbacks_lock:
            sender, batcher = self._sender, self._batcher
        if sender is None or batcher is None or not 200 <= reply.status < 300:
            return
        settings = sender.settings
        now = time.time()
        if reply.provider == "twilio" and settings.twilio and reply.form:
            if not reply.form.get("StatusCallback"):
                return
            sid = str(json.loads(reply.body)["sid"])
            code = settings.failure_for(reply.form.get("To", ""))
            final = "undelivered" if code is not None else "delivered"
            sender.at(
                now + settings.twilio_sent_after,
                lambda: self._twilio_callback(sender, sid, "sent", None),
            )
            sender.at(
                now + settings.delivered_after,
                lambda: self._twilio_callback(sender, sid, final, code),
            )
        elif reply.provider == "sendgrid" and settings.sendgrid_url:
            message_id = reply.headers.get("X-Message-Id")
            if message_id is None:
                return
            batcher.add(self._sendgrid.events_for(message_id, "processed", {}))
            sender.at(
                now + settings.delivered_after,
                lambda: batcher.add(self._final_sendgrid_events(settings, message_id)),
            )

    def _twilio_callback(
        self, sender: CallbackSender, sid: str, status: str, error_code: str | None
    ) -> None:
        try:
            url, params = self._twilio.status_update(sid, status, error_code)
        except LookupError:  # forgotten by a reset meanwhile
            return
        signature = twilio_signature(self.TWILIO_AUTH_TOKEN, url, params)
        token = idempotency_token()
        delivery_ids = tuple(parse_qs(urlsplit(url).query).get("delivery_id", ["?"])[:1])
        sender.send(
            "twilio",
            url,
            (status,),
            delivery_ids,
            lambda: callbacks.post_twilio_callback(url, params, signature, token),
        )

    def _final_sendgrid_events(
        self, settings: AutoCallbacks, message_id: str
    ) -> list[dict[str, Any]]:
        try:
            events = self._sendgrid.events_for(message_id, "delivered", {})
        except LookupError:
            return []
        for event in events:
            reason = settings.failure_for(str(event["email"]))
            if reason is not None:
                found = _SMTP_STATUS.search(reason)
                event.update(
                    event="bounce",
                    type="bounce",
                    reason=reason,
                    status=found.group(0) if found else "5.0.0",
                )
        return events

    def _post_sendgrid_batch(self, sender: CallbackSender, batch: list[dict[str, Any]]) -> None:
        url = sender.settings.sendgrid_url
        if url is None or not batch:
            return
        payload, timestamp = callbacks.sendgrid_batch_body(batch)
        signature = self._keys.sign_sendgrid_payload(timestamp, payload)
        sender.send(
            "sendgrid",
            url,
            tuple(str(e.get("event")) for e in batch),
            tuple(str(e.get("delivery_id", "?")) for e in batch),
            lambda: callbacks.post_sendgrid_batch(url, payload, timestamp, signature),
        )

    # --- dispatch -------------------------------------------------------------------------

    def _answer(self, req: Incoming) -> Reply:
        path = req.path
        if path.startswith(PREFIX):
            return handle_control(self, req)
        if path.startswith("/2010-04-01/"):
            reply = self._twilio.handle(req)
            if req.method == "POST":
                self._schedule_callbacks(reply)
            return reply
        if path.startswith("/v3/"):
            reply = self._sendgrid.handle(req)
            self._schedule_callbacks(reply)
            return reply
        if path.startswith("/v1/"):
            return self._fcm.handle(req)
        if path == TOKEN_PATH:
            return self._oauth.handle(req)
        return json_reply("unknown", 404, {"error": "the emulator has no such endpoint"})

    def _record(self, req: Incoming, reply: Reply) -> None:
        self._recorder.add(
            RecordedRequest(
                provider=reply.provider,
                method=req.method,
                path=req.path,
                headers=redact_headers(req.headers),
                form=reply.form,
                json=reply.json,
                status=reply.status,
                at=req.at,
                dropped=reply.dropped,
            )
        )
