"""The database gate: a worker takes no message while its database breaker is open.

Added to the broker before Dramatiq's time limit starts counting, so a message that waits
here for the database is not cut short by the limit once it runs.
"""

from __future__ import annotations

import logging
import threading

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from dispatcher.runtime import current_runtime

log = logging.getLogger("dispatcher.worker")


class ShuttingDown(Exception):
    """The worker stopped while a message waited for the database."""


class DatabaseGate(Middleware):
    """Holds each message before it is processed until the database answers."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Wait (probing the database) while the breaker is open."""
        database = current_runtime().database
        if database.is_open:
            log.info("message %s waits for the database", message.message_id)
        while not database.wait_until_closed(timeout=1.0):
            if not threading.main_thread().is_alive():
                # The process is stopping: leave the message unacknowledged, so Dramatiq
                # gives it to another worker once this one's heartbeat is gone.
                raise ShuttingDown("the worker stopped while waiting for the database")
