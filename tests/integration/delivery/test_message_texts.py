"""The texts families read are kept (issue 15, problem 7; decision 0077): every sent delivery
names the text it carried, stored once per announcement and content, so a closure to many
families stores a handful of texts, not one per family."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest
from sqlalchemy import func, select

from dispatcher.delivery.deliver import deliver_batch
from dispatcher.queue.enqueue import enqueue
from dispatcher.store.models import Delivery, MessageText, OutboxMessage
from dispatcher.worker.run import start_workers
from tests.support.factories import create, delivery_ids, import_roster, many_families, plan, row
from tests.support.waiting import wait_until


@pytest.fixture
def worker(clean_redis: Any) -> Iterator[Any]:
    """The worker lanes in this process, as `dispatcher worker` runs them; stopped after."""
    started: list[dramatiq.Worker] = []
    started.extend(start_workers(clean_redis, 4))
    yield clean_redis
    for w in started:
        w.stop()


def _families() -> list[dict[str, str]]:
    """Thirty families; three of them with names of their own (their emails greet them)."""
    rows = many_families(30)
    for i, name in enumerate(("Bea", "Cyd", "Dov")):
        rows[i] = {**rows[i], "contact_first_name": name}
    return rows


def _sent_and_their_texts(runtime: Any, announcement_id: int) -> list[tuple[Any, ...]]:
    with runtime.sessions() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(
                    Delivery.id,
                    Delivery.message_text_id,
                    MessageText.channel,
                    MessageText.subject,
                    MessageText.body,
                    OutboxMessage.subject,
                    OutboxMessage.body,
                )
                .outerjoin(MessageText, MessageText.id == Delivery.message_text_id)
                .join(OutboxMessage, OutboxMessage.delivery_id == Delivery.id)
                .where(Delivery.announcement_id == announcement_id, Delivery.state == "sent")
            )
        ]


def _stored_texts(runtime: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MessageText)) or 0)


def test_a_closure_through_the_workers_keeps_each_distinct_text_once(
    runtime: Any, worker: Any
) -> None:
    import_roster(runtime, _families())
    announcement_id = create(runtime)
    work = plan(runtime, announcement_id)
    ids = delivery_ids(work)
    enqueue(worker, work)

    wait_until(
        lambda: len(_sent_and_their_texts(runtime, announcement_id)) == len(ids),
        60,
        what=f"all {len(ids)} deliveries sent",
    )

    sent = _sent_and_their_texts(runtime, announcement_id)
    assert len(sent) == 60
    assert all(text_id is not None for _, text_id, *_ in sent)
    # What the family read (the outbox keeps it) is the text stored: an email's subject and
    # plain text, a text message's body.
    assert all((s, b) == (out_s, out_b) for _, _, _, s, b, out_s, out_b in sent)
    distinct = {(channel, s, b) for _, _, channel, s, b, _, _ in sent}
    # One text message for everybody; one email for the 27 Annes and one for each of the
    # three families with names of their own.
    assert len(distinct) == 5
    assert _stored_texts(runtime) == 5


def test_sending_the_same_texts_again_stores_nothing_more(runtime: Any) -> None:
    import_roster(runtime, [row(), row(student_id="S2", contact_id="C2", mobile="07700 900002")])
    announcement_id = create(runtime)
    ids = delivery_ids(plan(runtime, announcement_id))
    now = datetime.now(UTC)

    first, second = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    deliver_batch(runtime, first, lambda: now, lambda work: None)
    runtime.memo.clear()  # another worker process: it knows no stored text
    deliver_batch(runtime, second, lambda: now, lambda work: None)

    sent = _sent_and_their_texts(runtime, announcement_id)
    assert len(sent) == 4 and all(text_id is not None for _, text_id, *_ in sent)
    assert _stored_texts(runtime) == len({(c, s, b) for _, _, c, s, b, _, _ in sent}) == 2
