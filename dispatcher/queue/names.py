"""The names every part of the pipeline uses to put work on the queue: queues (one per urgency,
so urgent work is never stuck behind bulk work), their priorities, and the actors.

Pure values: importing this module sets up nothing.
"""

from __future__ import annotations

from dispatcher.domain import Urgency

PLAN_QUEUE = "plan"
DELIVERY_QUEUES: dict[Urgency, str] = {
    Urgency.URGENT: "deliver-urgent",
    Urgency.NORMAL: "deliver-normal",
    Urgency.BULK: "deliver-bulk",
}


#: Dramatiq runs lower numbers first.
QUEUE_PRIORITY: dict[str, int] = {
    PLAN_QUEUE: 0,
    DELIVERY_QUEUES[Urgency.URGENT]: 0,
    DELIVERY_QUEUES[Urgency.NORMAL]: 50,
    DELIVERY_QUEUES[Urgency.BULK]: 100,
}


PLAN_ACTOR = "plan_announcement"
MIS_EVENT_ACTOR = "process_mis_event"


#: Actors taking one delivery id (retries, held deliveries, fallbacks, the sweep).
DELIVER_ACTOR = {
    Urgency.URGENT: "deliver_urgent",
    Urgency.NORMAL: "deliver_normal",
    Urgency.BULK: "deliver_bulk",
}


#: Actors taking a batch of delivery ids (what planning enqueues).
DELIVER_BATCH_ACTOR = {urgency: f"{name}_batch" for urgency, name in DELIVER_ACTOR.items()}


def deliver_actor_of_queue(queue: str) -> str:
    """The one-id actor for a delivery stored with ``queue`` (``deliver-urgent`` ...)."""
    return DELIVER_ACTOR[Urgency(queue.removeprefix("deliver-"))]


def deliver_batch_actor_of_queue(queue: str) -> str:
    """The batch actor for deliveries stored with ``queue``."""
    return DELIVER_BATCH_ACTOR[Urgency(queue.removeprefix("deliver-"))]
