"""Recording what became of a send: the provider's receipt, or a ``FailureDecision``
(``dispatcher.delivery.outcomes``) carried out on the rows (committed here), with the
follow-ups it starts queued after the commit, and a stopped channel's alert raised once."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.channels.base import ProviderReceipt
from dispatcher.channels.selection import MISSING_CREDENTIALS_CODE
from dispatcher.channels.stops import ChannelStop
from dispatcher.delivery.context import BatchContext
from dispatcher.delivery.fallback import start_follow_ups
from dispatcher.delivery.messages import DueDelivery, PreparedDelivery
from dispatcher.delivery.outcomes import (
    REASON_LIMIT,
    DeliveryOutcome,
    FailureDecision,
    Outcome,
    Step,
    after_attempts,
)
from dispatcher.delivery.texts import kept_text
from dispatcher.domain import DeliveryState
from dispatcher.queue.names import DELIVER_ACTOR
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import WAITING_DETAIL, SentRecord, move_delivery
from dispatcher.store.models import Contact, Delivery, SmsOptOut

log = logging.getLogger("dispatcher.deliver")

#: The shortest wait of a delivery on a stopped channel (a stop about to run out).
MIN_STOP_WAIT_SECONDS = 5.0


def sent_record(
    prepared: PreparedDelivery, receipt: ProviderReceipt, moment: datetime
) -> SentRecord:
    """What to store of a send the provider accepted at ``moment``, with the text sent."""
    return SentRecord(
        delivery_id=prepared.delivery.id,
        at=moment,
        provider=receipt.provider,
        provider_message_id=receipt.provider_message_id,
        sms_segments=prepared.segments,
        text=(
            kept_text(prepared.message.announcement_id, prepared.message.rendered)
            if prepared.message is not None
            else None
        ),
    )


def record_failure(
    ctx: BatchContext, delivery: DueDelivery, decision: FailureDecision, provider: str
) -> DeliveryOutcome:
    """Carry out ``decision`` for ``delivery``, which ``provider`` did not take (or which
    could not be handed to it), and commit; follow-ups are queued after the commit."""
    moment = ctx.now()
    if decision.step is Step.WAIT:
        stop = ctx.known_stops.get(provider) or _stop_channel(
            ctx.runtime, provider, decision, moment
        )
        ctx.known_stops[provider] = stop
        return wait_for_channel(ctx, delivery, stop)
    session = ctx.session
    if decision.step is Step.RETRY:
        attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery.id))
        decision = after_attempts(decision, attempts or 0)
    if decision.step is Step.RETRY:
        move_delivery(
            session,
            delivery.id,
            DeliveryState.PENDING,
            now=moment,
            code=decision.code,
            detail=decision.reason,
            only_from=[DeliveryState.SENDING],
        )
        session.commit()
        log.warning("delivery %s transient failure %s; will retry", delivery.id, decision.code)
        return DeliveryOutcome(Outcome.RETRY, decision.retry_after)
    if decision.push_token_dead:
        # The app was uninstalled or the token expired: never route push to it again.
        session.execute(
            update(Contact).where(Contact.id == delivery.contact_id).values(push_token_dead=True)
        )
    if decision.sms_opted_out:
        _record_unsubscribed(session, delivery.contact_id, decision.code, moment)
    move_delivery(
        session,
        delivery.id,
        DeliveryState.FAILED,
        now=moment,
        code=decision.code,
        detail=decision.detail or decision.reason,
        error_code=decision.code,
        error_reason=decision.reason,
    )
    if decision.step is Step.GIVE_UP:
        session.commit()
        return DeliveryOutcome(Outcome.FAILED)
    failed = session.get(Delivery, delivery.id)
    follow_ups = start_follow_ups(session, failed, moment, runtime=ctx.runtime) if failed else []
    session.commit()
    log.warning("delivery %s failed permanently (%s)", delivery.id, decision.code)
    if follow_ups:
        actor = DELIVER_ACTOR[ctx.facts.category.urgency]
        ctx.enqueue([QueuedWork(actor, follow_up) for follow_up in follow_ups])
    return DeliveryOutcome(Outcome.FAILED)


def wait_for_channel(
    ctx: BatchContext, delivery: DueDelivery, stop: ChannelStop
) -> DeliveryOutcome:
    """The provider refused our account (bad credentials, suspended, wrong sender): that is
    not the family's fault, so the delivery goes back to pending instead of failing, its
    claim not counted as an attempt, and is tried again once the channel's stop runs out."""
    move_delivery(
        ctx.session,
        delivery.id,
        DeliveryState.PENDING,
        now=ctx.now(),
        code=stop.code,
        detail=f"{WAITING_DETAIL}: {stop.reason}"[:REASON_LIMIT],
        only_from=[DeliveryState.SENDING],
        attempts=Delivery.attempts - 1,
    )
    ctx.session.commit()
    log.info("delivery %s waits for %s to be resumed", delivery.id, stop.provider)
    return DeliveryOutcome(Outcome.WAITING, max(stop.seconds_left, MIN_STOP_WAIT_SECONDS))


def _stop_channel(
    runtime: Runtime, provider: str, decision: FailureDecision, moment: datetime
) -> ChannelStop:
    """Stop ``provider`` for every worker after it refused our account, raising the alert
    once (whichever worker saw the refusal first; not again for the same reason until the
    provider is resumed, or a day later)."""
    stops = runtime.channel_stops
    if stops.stop(provider, decision.code, decision.reason, moment) and stops.should_alert(
        provider, decision.code
    ):
        if decision.code == MISSING_CREDENTIALS_CODE:
            log.error(
                "ALERT provider %s is named by a school but has no credentials here (%s); "
                "its deliveries are held, not sent and not written to the outbox: set the "
                "variables, restart the workers, then run `dispatcher channels resume %s`",
                provider,
                decision.reason,
                provider,
            )
        else:
            log.error(
                "ALERT provider %s refused our account (%s: %s); its channel is stopped for "
                "%.0f s and its deliveries wait: fix the credentials or account settings, "
                "then run `dispatcher channels resume %s`",
                provider,
                decision.code,
                decision.reason,
                stops.seconds,
                provider,
            )
    return stops.stopped(provider) or ChannelStop(
        provider, decision.code, decision.reason, moment, stops.seconds
    )


def _record_unsubscribed(session: Session, contact_id: int, keyword: str, moment: datetime) -> None:
    """Record an SMS opt-out for the contact's number, as an inbound STOP would."""
    phone = session.scalar(select(Contact.phone_e164).where(Contact.id == contact_id))
    if phone is None or session.get(SmsOptOut, phone) is not None:
        return
    try:
        with session.begin_nested():
            session.add(SmsOptOut(phone_e164=phone, keyword=keyword[:16], opted_out_at=moment))
    except IntegrityError:  # recorded meanwhile by another worker or the inbound webhook
        pass
