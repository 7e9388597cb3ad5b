"""A provider outage through the whole delivery pipeline: real SDKs, the emulator, Redis and
Dramatiq workers. When the provider recovers, every family gets one message, not a burst."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from dispatcher.queue.enqueue import enqueue
from dispatcher.store.models import Delivery
from dispatcher.worker.run import start_workers
from emulator import FailureRule, ProviderEmulator
from tests.support.factories import create, delivery_ids, import_roster, plan, row
from tests.support.waiting import wait_until


def test_an_outage_then_recovery_sends_each_message_once(
    emulator: ProviderEmulator, clean_redis: Any
) -> None:
    from dispatcher.runtime import current_runtime, dispose_runtimes

    runtime = current_runtime()
    try:
        families = [
            row(
                student_id=f"S{i}",
                contact_id=f"C{i}",
                mobile=f"07700 900{i:03d}",
                email=f"parent{i}@example.com",
            )
            for i in range(15)
        ]
        import_roster(runtime, families)
        work = plan(runtime, create(runtime))
        expected = len(delivery_ids(work))
        # Twilio is down for the first 25 requests: timeouts-worth of 503s, then recovers.
        emulator.add_failure(FailureRule("twilio", status=503, count=25))
        enqueue(clean_redis, work)

        def sent() -> int:
            with runtime.sessions() as session:
                return int(
                    session.scalar(
                        select(func.count()).select_from(Delivery).where(Delivery.state == "sent")
                    )
                    or 0
                )

        workers = start_workers(clean_redis, threads=4)
        try:
            wait_until(
                lambda: sent() == expected,
                120,
                0.2,
                what=f"all {expected} deliveries sent after the outage",
                explain=lambda: f"{sent()} sent",
            )
        finally:
            for worker in workers:
                worker.stop()
        assert sent() == expected == 30
        assert len(emulator.messages("twilio")) == 15
        # one email each; identical ones may share a request (SendGrid personalizations)
        emailed = emulator.accepted_delivery_ids("sendgrid")
        assert len(emailed) == len(set(emailed)) == 15
        assert emulator.stats()["duplicates"].get("twilio", 0) == 0
        with runtime.sessions() as session:
            providers = set(session.scalars(select(Delivery.provider)))
        assert providers == {"twilio", "sendgrid"}
    finally:
        dispose_runtimes()


def test_identical_emails_share_one_request_and_each_delivery_is_tracked(
    emulator: ProviderEmulator,
) -> None:
    from dispatcher.delivery.deliver import deliver_batch
    from dispatcher.delivery.outcomes import Outcome
    from dispatcher.runtime import current_runtime, dispose_runtimes

    runtime = current_runtime()
    try:
        # Same first name, same child's name: the emails render identically. One address is
        # refused by SendGrid: only that delivery fails.
        families = [
            row(
                student_id=f"S{i}",
                contact_id=f"C{i}",
                contact_first_name="Sam",
                student_first_name="Alex",
                mobile="",
                email=f"parent{i}@example.com",
            )
            for i in range(6)
        ]
        import_roster(runtime, families)
        emulator.add_failure(FailureRule("sendgrid", status=400, to="parent3@example.com"))
        ids = delivery_ids(plan(runtime, create(runtime)))
        result = deliver_batch(runtime, ids, lambda: datetime.now(UTC), lambda _: None)
        assert sorted(result.outcomes.values()).count(Outcome.SENT) == 5
        requests = emulator.messages("sendgrid")
        assert len(requests) < 5  # shared, not one request per family
        emailed = emulator.accepted_delivery_ids("sendgrid")
        assert len(emailed) == len(set(emailed)) == 5
        with runtime.sessions() as session:
            rows = session.execute(
                select(Delivery.state, Delivery.provider_message_id, Delivery.error_code)
            ).all()
        assert sorted(r.state for r in rows) == ["failed"] + ["sent"] * 5
        assert all(r.provider_message_id for r in rows if r.state == "sent")
    finally:
        dispose_runtimes()


def test_families_share_email_requests_and_each_is_greeted_by_name(
    emulator: ProviderEmulator,
) -> None:
    from dispatcher.delivery.deliver import deliver_batch
    from dispatcher.delivery.outcomes import Outcome
    from dispatcher.runtime import current_runtime, dispose_runtimes

    runtime = current_runtime()
    try:
        names = [("Anne", "Amy"), ("Siobhán", "Zoë"), ("Ann & Joe", "D'Arcy"), ("Bea", "Cal")]
        families = [
            row(
                student_id=f"S{i}",
                contact_id=f"C{i}",
                contact_first_name=contact,
                student_first_name=child,
                mobile="",
                email=f"parent{i}@example.com",
            )
            for i, (contact, child) in enumerate(names)
        ]
        # Bea has a second child at the school: her email names both.
        families.append({**families[3], "student_id": "S9", "student_first_name": "Dot"})
        import_roster(runtime, families)
        ids = delivery_ids(plan(runtime, create(runtime)))
        result = deliver_batch(runtime, ids, lambda: datetime.now(UTC), lambda _: None)
        assert list(result.outcomes.values()).count(Outcome.SENT) == 4
        # Three one-child families share a request; the two-child letter reads differently.
        assert len(emulator.messages("sendgrid")) == 2
        emails = {e["to"][0]: e for e in emulator.sendgrid_emails()}
        for i, (contact, child) in enumerate(names[:3]):
            email = emails[f"parent{i}@example.com"]
            assert email["content"]["text/plain"].startswith(f"Dear {contact},")
            assert f"Please keep {child} at home." in email["content"]["text/plain"]
            assert "%d" not in str(email)
        assert "Dear Ann &amp; Joe," in emails["parent2@example.com"]["content"]["text/html"]
        assert "D&#39;Arcy" in emails["parent2@example.com"]["content"]["text/html"]
        assert (
            "Please keep Cal and Dot at home."
            in (emails["parent3@example.com"]["content"]["text/plain"])
        )
    finally:
        dispose_runtimes()
