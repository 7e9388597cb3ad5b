"""A local emulator of the providers' HTTP APIs (Twilio SMS, SendGrid email, FCM push and
Google's OAuth token endpoint), for tests, benchmarks and demos.

The real SDKs are pointed at ``ProviderEmulator.url``; see ``emulator/README.md`` and
``tests/emulator/`` for the exact code.
"""

from emulator.auto_callbacks import AutoCallbacks, CallbackAttempt
from emulator.cli import run_forever
from emulator.emulator import ProviderEmulator
from emulator.failures import FailureRule
from emulator.records import RecordedRequest

__all__ = [
    "AutoCallbacks",
    "CallbackAttempt",
    "FailureRule",
    "ProviderEmulator",
    "RecordedRequest",
    "run_forever",
]
