"""Every retry limit of the product, in one place, and how they nest.

A send that fails transiently (a timeout, a 429, a 5xx, a connection refused) is tried again
at three levels, each inside the next:

1. **Inside one provider request** (``dispatcher.channels.retry.RetryPolicy``): up to
   ``REQUEST_ATTEMPTS`` tries, exponential backoff with full jitter (``REQUEST_BACKOFF_SECONDS``
   doubling, at most ``REQUEST_MAX_BACKOFF_SECONDS``, never sooner than the provider's
   ``Retry-After``), and no sleep that would end more than ``REQUEST_MAX_SECONDS`` after the
   first try. A worker thread waits for these, so they are short.
2. **Across delivery attempts** (Dramatiq's ``Retries`` middleware, set up in
   ``dispatcher.queue.broker``): once the request's tries are spent the delivery goes back to
   ``pending`` and its queue message is retried, up to ``DELIVERY_RETRIES`` times, after the
   provider's ``Retry-After`` or with Dramatiq's exponential backoff from
   ``RETRY_MIN_BACKOFF_MS`` to ``RETRY_MAX_BACKOFF_MS``. A delivery of a batched message is
   handed to the one-delivery actor for this, first after ``FIRST_RETRY_SECONDS``.
3. **The row's attempt count** (``dispatcher.delivery``): every claim of a delivery counts one
   attempt; a transient failure at the ``DELIVERY_ATTEMPTS``-th attempt gives the delivery up
   as failed instead of retrying it (no fallback is started for it: the report lists it).
   ``DELIVERY_ATTEMPTS`` is at most
   ``DELIVERY_RETRIES + 1`` (the first try and every retry), so the row, not Dramatiq, always
   decides when to give up: a message never dies with its delivery still pending.
   A claim on a channel stopped because its provider refused our account is not counted.

Plans and MIS events are retried up to ``PLAN_RETRIES`` times (a database hiccup while
planning should not lose an announcement); the recovery sweep replays any that still fail.

So a delivery that keeps failing transiently is tried at most
``DELIVERY_ATTEMPTS * REQUEST_ATTEMPTS`` times, over a few minutes of backoff (2 s doubling,
with jitter, longer when the provider asks), before it is given up.
"""

from __future__ import annotations

from typing import Final

#: Tries of one provider request inside one delivery attempt.
REQUEST_ATTEMPTS: Final = 3
#: No in-request backoff sleep may end later than this after the first try.
REQUEST_MAX_SECONDS: Final = 20.0
#: The in-request backoff's first step (doubled each try, with full jitter) and its cap.
REQUEST_BACKOFF_SECONDS: Final = 0.5
REQUEST_MAX_BACKOFF_SECONDS: Final = 8.0

#: Dramatiq retries of a delivery's queue message (its ``max_retries``).
DELIVERY_RETRIES: Final = 8
#: Dramatiq's exponential backoff between those retries, when the provider gave no
#: ``Retry-After``.
RETRY_MIN_BACKOFF_MS: Final = 2_000
RETRY_MAX_BACKOFF_MS: Final = 10 * 60_000
#: Delay before the first retry of a delivery of a batched message whose provider gave no
#: ``Retry-After`` (later ones follow the one-delivery actor's backoff).
FIRST_RETRY_SECONDS: Final = 2.0

#: Attempts (claims) after which a transiently failing delivery is failed.
DELIVERY_ATTEMPTS: Final = 8

#: Dramatiq retries of a plan message and of an MIS event's message.
PLAN_RETRIES: Final = 20
