"""Run the emulator in the foreground: ``python -m emulator`` and the project's
``dispatcher emulate`` command (through ``run_forever``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
from pathlib import Path

from dispatcher.stopping import SignalStop
from emulator.auto_callbacks import AutoCallbacks
from emulator.emulator import ProviderEmulator


def write_service_account(emulator: ProviderEmulator, path: str | None) -> Path:
    """Write the FCM service-account JSON (mode 0600) and return where it is."""
    target = (
        Path(path)
        if path
        else Path(tempfile.gettempdir())
        / (f"dispatcher-emulator-service-account-{emulator.port}.json")
    )
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(emulator.fcm_service_account_info(), handle, indent=2)
    return target


def provider_environment(emulator: ProviderEmulator, service_account_file: Path) -> dict[str, str]:
    """The environment variables that point every provider adapter at ``emulator`` (writing
    its FCM service account to ``service_account_file``)."""
    write_service_account(emulator, str(service_account_file))
    return {
        "TWILIO_ACCOUNT_SID": emulator.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": emulator.TWILIO_AUTH_TOKEN,
        "TWILIO_BASE_URL": emulator.url,
        "SENDGRID_API_KEY": emulator.SENDGRID_API_KEY,
        "SENDGRID_BASE_URL": emulator.url,
        "FCM_SERVICE_ACCOUNT_FILE": str(service_account_file),
        "FCM_PROJECT_ID": emulator.FCM_PROJECT_ID,
        "FCM_BASE_URL": emulator.url,
    }


def describe(emulator: ProviderEmulator, service_account_file: Path) -> str:
    """The text printed on start: URL, credentials and control endpoints."""
    return "\n".join(
        [
            f"Provider emulator listening on {emulator.url}",
            "Credentials (emulator only):",
            f"  TWILIO_ACCOUNT_SID={emulator.TWILIO_ACCOUNT_SID}",
            f"  TWILIO_AUTH_TOKEN={emulator.TWILIO_AUTH_TOKEN}",
            f"  SENDGRID_API_KEY={emulator.SENDGRID_API_KEY}",
            f"  FCM_PROJECT_ID={emulator.FCM_PROJECT_ID}",
            f"  FCM service account JSON: {service_account_file}",
            f"  SendGrid webhook public key: {emulator.sendgrid_webhook_public_key}",
            "Endpoints: POST /2010-04-01/Accounts/{sid}/Messages.json, POST /v3/mail/send,",
            "  POST /v1/projects/{project}/messages:send, POST /token",
            "Control: POST|GET|DELETE /_emulator/failures, POST /_emulator/latency,",
            "  GET /_emulator/stats, GET /_emulator/requests, POST /_emulator/reset,",
            "  POST|GET|DELETE /_emulator/callbacks",
            _callbacks_line(emulator.callback_settings),
            "Press Ctrl-C to stop.",
        ]
    )


def _callbacks_line(settings: AutoCallbacks | None) -> str:
    if settings is None:
        return "Automatic status callbacks: off"
    sendgrid = settings.sendgrid_url or "off (no --sendgrid-events-url)"
    return (
        f"Automatic status callbacks: Twilio to each StatusCallback, SendGrid events to "
        f"{sendgrid}; delivered after {settings.delivered_after:g} s"
    )


def run_forever(
    host: str,
    port: int,
    latency: float = 0.0,
    *,
    service_account_file: str | None = None,
    callbacks: AutoCallbacks | None = None,
) -> None:
    """Serve on ``host:port`` until Ctrl-C or SIGTERM, after printing the URL and the
    credentials to use; with ``callbacks``, posting status callbacks by itself.
    """
    done = SignalStop()
    emulator = ProviderEmulator(host, port, latency=latency, callbacks=callbacks).start()
    try:
        done.install((signal.SIGTERM,))
        path = write_service_account(emulator, service_account_file)
        print(describe(emulator, path), flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m emulator [--host H] [--port P] [--latency S] [--callbacks]
    [--sendgrid-events-url URL] [--callback-delay S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local emulator of Twilio SMS, SendGrid email and FCM push.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument(
        "--service-account-file", default=None, help="where to write the FCM service account"
    )
    parser.add_argument(
        "--callbacks",
        action="store_true",
        help="post Twilio status callbacks (sent, delivered) by itself, as Twilio does",
    )
    parser.add_argument(
        "--sendgrid-events-url",
        default=None,
        help="post signed SendGrid Event Webhook batches (processed, delivered) here "
        "(implies --callbacks)",
    )
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=AutoCallbacks.delivered_after,
        help="seconds from an accepted send to its delivered callback",
    )
    args = parser.parse_args(argv)
    callbacks = None
    if args.callbacks or args.sendgrid_events_url:
        try:
            callbacks = AutoCallbacks(
                sendgrid_url=args.sendgrid_events_url,
                delivered_after=args.callback_delay,
                twilio_sent_after=min(AutoCallbacks.twilio_sent_after, args.callback_delay),
            )
        except ValueError as exc:
            parser.error(str(exc))
    run_forever(
        args.host,
        args.port,
        args.latency,
        service_account_file=args.service_account_file,
        callbacks=callbacks,
    )
