"""Planning an announcement into delivery rows, and the dry run, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.reporting.reports import announcement_report
from dispatcher.store.models import Announcement, Delivery
from tests.support.factories import closure_args, create, import_roster, many_families, plan, row

runner = CliRunner()


def family_rows() -> list[dict[str, str]]:
    return [
        # mother of two siblings: one contact
        row(student_id="S1", contact_id="MUM"),
        row(
            student_id="S2", student_first_name="Ben", year="3", **{"class": "3A"}, contact_id="MUM"
        ),
        # father under a court order for S1 only: barred from everything about S1
        row(
            student_id="S1",
            contact_id="DAD",
            contact_first_name="Dan",
            no_contact="Y",
            mobile="07700 900002",
            email="dan@example.com",
        ),
        # grandmother, emergency only, no parental responsibility
        row(
            student_id="S1",
            contact_id="GRAN",
            contact_first_name="Gran",
            priority="3",
            parental_responsibility="N",
            mobile="07700 900003",
            email="",
        ),
        # a carer with only a landline and no email: nobody can reach them
        row(
            student_id="S3",
            contact_id="LAND",
            mobile="01632 960001",
            email="",
            year="3",
            **{"class": "3A"},
        ),
        # a Polish-speaking parent with no mobile
        row(
            student_id="S4",
            contact_id="PL",
            mobile="",
            email="ola@example.com",
            language="pl",
            year="5",
            **{"class": "5C"},
            groups="trip-paris",
        ),
    ]


def test_plan_writes_one_delivery_per_channel_and_queues_after_commit(runtime: Any) -> None:
    import_roster(runtime, family_rows())
    announcement_id = create(runtime)
    queued = plan(runtime, announcement_id)
    with runtime.sessions() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.announcement_id == announcement_id)
        ).all()
        announcement = session.get(Announcement, announcement_id)
    assert announcement.state == "sending"  # every delivery written, none sent yet
    queued_ids = [i for q in queued for i in q.object_ids]
    assert sorted(queued_ids) == sorted(d.id for d in deliveries)
    assert {q.actor_name for q in queued} == {"deliver_urgent_batch"}
    batch_size = runtime.settings.delivery_batch_size
    assert all(len(q.object_ids) <= batch_size for q in queued)
    by_contact: dict[int, list[str]] = {}
    for d in deliveries:
        by_contact.setdefault(d.contact_id, []).append(d.channel)
    # MUM (sms + email back-up), GRAN (sms, emergency), PL (email only): DAD and LAND nothing
    assert sorted(sorted(v) for v in by_contact.values()) == [["email"], ["email", "sms"], ["sms"]]
    assert {d.language for d in deliveries if d.channel == "email"} == {"en", "pl"}
    # planning again (a redelivered plan message) writes nothing more
    assert plan(runtime, announcement_id) == []


def test_report_lists_unreachable_but_never_the_excluded(runtime: Any) -> None:
    import_roster(runtime, family_rows())
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)
    assert [p["contact_id"] for p in report["not_reached"]] == ["LAND"]
    assert report["not_reached"][0]["phone"] == "+441632960001"
    assert report["excluded"] == {"no_contact": 1}
    assert "DAD" not in json.dumps(report)


def test_audience_selectors(runtime: Any) -> None:
    import_roster(runtime, family_rows())
    cases = {
        "class:3A": {"MUM", "LAND"},
        "year:5": {"PL"},
        "group:trip-paris": {"PL"},
        "student:S2": {"MUM"},
    }
    for spec, expected in cases.items():
        announcement_id = create(runtime, audience=[spec])
        plan(runtime, announcement_id)
        with runtime.sessions() as session:
            report = announcement_report(session, announcement_id)
            contacted = {
                c
                for (c,) in session.execute(
                    select(Delivery.contact_id).where(Delivery.announcement_id == announcement_id)
                )
            }
        from dispatcher.store.models import Contact

        with runtime.sessions() as session:
            names = set(
                session.scalars(select(Contact.external_id).where(Contact.id.in_(contacted)))
            )
        reached_or_listed = names | {p["contact_id"] for p in report["not_reached"]}
        assert reached_or_listed == expected, spec


def test_consent_goes_only_to_parental_responsibility(runtime: Any) -> None:
    import_roster(
        runtime,
        [
            row(contact_id="MUM"),
            row(
                contact_id="STEP",
                contact_first_name="Sue",
                parental_responsibility="N",
                mobile="07700 900009",
                email="sue@example.com",
            ),
        ],
    )
    announcement_id = create(
        runtime,
        category="consent_request",
        variables={
            "activity": "a trip to the zoo",
            "reply_by": "Friday",
            "form_url": "https://x.example/f",
        },
    )
    plan(runtime, announcement_id)
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)
    assert report["recipients"] == 1
    assert report["excluded"] == {"no_parental_responsibility": 1}


def test_newsletter_planned_at_night_is_held_until_the_window_opens(runtime: Any) -> None:
    import_roster(runtime, [row()])
    saturday_2am = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    announcement_id = create(
        runtime,
        category="newsletter",
        variables={"title": "Autumn news", "url": "https://x.example/n"},
        now=saturday_2am,
    )
    queued = plan(runtime, announcement_id, now=saturday_2am)
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert delivery.state == "held"
    assert delivery.not_before.replace(tzinfo=UTC) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert queued[0].delay_ms == int(
        (delivery.not_before.replace(tzinfo=UTC) - saturday_2am).total_seconds() * 1000
    )
    # The office reads when it will go in the school's time, in words (GMT in November).
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id, runtime.configuration)
    assert report["still_to_send"]["held_until_local"] == "Monday 30 November 2026 at 08:00"
    assert "until Monday 30 November 2026 at 08:00" in report["headline"][1]


def test_dry_run_prints_the_plan_and_writes_nothing(runtime: Any) -> None:
    import_roster(runtime, family_rows())
    result = runner.invoke(
        app,
        closure_args("--dry-run", "--json"),
    )
    assert result.exit_code == 0, result.output
    plan_json = json.loads(result.stdout)
    assert plan_json["recipients"] == 3
    assert plan_json["deliveries"] == {"sms": 2, "email": 2}
    assert plan_json["languages"] == {"en": 3, "pl": 1}
    assert plan_json["excluded"] == {"no_contact": 1}
    assert [u["contact_id"] for u in plan_json["unreachable"]] == ["LAND"]
    assert plan_json["sms_segments"] >= 2
    assert plan_json["sms_encodings"]["en"] == "GSM-7"
    assert float(plan_json["estimated_cost_gbp"]) > 0
    with runtime.sessions() as session:
        assert session.scalars(select(Announcement)).first() is None


@pytest.mark.parametrize("flag", ["--dry-run", "--yes"])
def test_missing_template_variable_fails_before_anything_is_stored(runtime: Any, flag: str) -> None:
    import_roster(runtime, [row()])
    result = runner.invoke(
        app,
        [
            "announce",
            "--school",
            "demo",
            "--category",
            "emergency_closure",
            "--audience",
            "school",
            "--var",
            "date=Tuesday",
            flag,
        ],
    )
    assert result.exit_code == 2
    assert "reason" in result.stderr
    with runtime.sessions() as session:
        assert session.scalars(select(Announcement)).first() is None


def test_bad_audience_and_category_are_named(runtime: Any) -> None:
    result = runner.invoke(
        app,
        [
            "announce",
            "--school",
            "demo",
            "--category",
            "emergency_closure",
            "--audience",
            "yr:6",
            "--dry-run",
        ],
    )
    assert result.exit_code == 2 and "audience" in result.stderr
    result = runner.invoke(
        app,
        [
            "announce",
            "--school",
            "demo",
            "--category",
            "gossip",
            "--audience",
            "school",
            "--dry-run",
        ],
    )
    assert result.exit_code == 2 and "category" in result.stderr


def test_weekend_newsletter_waits_for_monday_across_the_clock_change(runtime: Any) -> None:
    import_roster(runtime, [row()])
    # Saturday 28 March 2026, 23:00 GMT; the clocks go forward at 01:00 on Sunday 29 March
    with time_machine.travel(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), tick=False):
        announcement_id = create(
            runtime,
            category="newsletter",
            variables={"title": "Spring news", "url": "https://x.example/n"},
            now=datetime.now(UTC),
        )
        plan(runtime, announcement_id, now=datetime.now(UTC))
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    # Monday 08:00 in London is 07:00 UTC once British Summer Time has started
    assert delivery.state == "held"
    assert delivery.not_before.replace(tzinfo=UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_report_csv_lists_who_to_phone(runtime: Any) -> None:
    import_roster(runtime, family_rows())
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    result = runner.invoke(app, ["report", str(announcement_id), "--csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == (
        "student_id,student_name,contact_id,contact_name,phone,phone_advice,text_relay_number,"
        "reason,family_reached,other_phones,last_call"
    )
    # the office's phone list: the number as it is dialled (decision 0067)
    assert len(lines) == 2 and lines[1].startswith("S3,") and ",01632 960001," in lines[1]
    result = runner.invoke(app, ["report", "999", "--json"])
    assert result.exit_code == 2 and "999" in result.stderr


def test_a_plan_cancelled_half_way_writes_and_queues_nothing_more(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from sqlalchemy import func, update

    from dispatcher.planning.plan import plan_announcement
    from dispatcher.queue.work import QueuedWork

    import_roster(
        runtime,
        [row(student_id=f"S{i}", contact_id=f"C{i}", mobile=f"07700 900{i:03d}") for i in range(6)],
    )
    small_batches = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"plan_batch_size": 2})
    )
    announcement_id = create(runtime)
    queued: list[QueuedWork] = []

    def enqueue_then_cancel(work: list[QueuedWork]) -> None:
        queued.extend(work)
        with runtime.sessions.begin() as session:  # the office cancels after the first batch
            session.execute(
                update(Announcement)
                .where(Announcement.id == announcement_id)
                .values(state="cancelled")
            )

    written = plan_announcement(
        small_batches, announcement_id, lambda: datetime.now(UTC), enqueue_then_cancel
    )
    with runtime.sessions() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.announcement_id == announcement_id)
        )
        state = session.scalar(select(Announcement.state).where(Announcement.id == announcement_id))
    assert state == "cancelled"
    assert written == stored == len([i for q in queued for i in q.object_ids]) == 4  # 2 families


def test_the_first_messages_are_queued_before_the_rest_of_a_big_audience_is_planned(
    runtime: Any,
) -> None:
    from dispatcher.planning.plan import FIRST_PLAN_BATCH, plan_announcement
    from dispatcher.queue.work import QueuedWork

    families = FIRST_PLAN_BATCH + 30
    import_roster(
        runtime,
        [
            row(student_id=f"S{i}", contact_id=f"C{i}", mobile=f"07700 900{i:03d}", email="")
            for i in range(families)
        ],
    )
    announcement_id = create(runtime)
    planned_when_queued: list[tuple[int, int]] = []  # (ids queued, rows planned by then)

    def enqueue(work: list[QueuedWork]) -> None:
        with runtime.sessions() as session:
            rows = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.announcement_id == announcement_id)
            )
        planned_when_queued.append((sum(len(w.object_ids) for w in work), int(rows or 0)))

    plan_announcement(runtime, announcement_id, lambda: datetime.now(UTC), enqueue)
    # one text per family: the first FIRST_PLAN_BATCH families' texts go to the queue while
    # the others are not yet planned, then the rest
    assert planned_when_queued == [
        (FIRST_PLAN_BATCH, FIRST_PLAN_BATCH),
        (families - FIRST_PLAN_BATCH, families),
    ]


def test_texts_are_queued_before_emails_and_emails_travel_together(runtime: Any) -> None:
    families = 90  # one planning chunk
    import_roster(runtime, many_families(families))
    announcement_id = create(runtime)  # an emergency closure: a text and an email back-up
    queued = plan(runtime, announcement_id)
    with runtime.sessions() as session:
        channel_of = {
            delivery_id: channel
            for delivery_id, channel in session.execute(
                select(Delivery.id, Delivery.channel).where(
                    Delivery.announcement_id == announcement_id
                )
            )
        }
    order = [channel_of[i] for q in queued for i in q.object_ids]
    assert order == ["sms"] * families + ["email"] * families
    size, email_size = runtime.settings.delivery_batch_size, runtime.settings.email_batch_size
    assert email_size > size
    text_messages = [q for q in queued if channel_of[q.object_ids[0]] == "sms"]
    email_messages = [q for q in queued if channel_of[q.object_ids[0]] == "email"]
    # texts go in small messages (no thread left with a long batch at a provider's pace);
    # every queue message of emails holds only emails, many of them, so they share requests
    assert len(text_messages) == -(-families // size)
    assert len(email_messages) == -(-families // email_size)
    assert all(channel_of[i] == "email" for q in email_messages for i in q.object_ids)


def test_a_plan_run_twice_at_once_writes_each_delivery_once(runtime: Any) -> None:
    """The plan message delivered twice (a redelivery while the first run is still going):
    the second run, which read the same cursor, finds it moved on and stops instead of
    writing the same deliveries again (a unique-key error, the plan failing)."""
    import dataclasses

    from dispatcher.planning.plan import plan_announcement
    from dispatcher.queue.work import QueuedWork

    import_roster(runtime, many_families(6))
    small_batches = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"plan_batch_size": 2})
    )
    announcement_id = create(runtime)
    queued: list[QueuedWork] = []

    class Interrupted(Exception):
        pass

    def first_batch_then_stop(work: list[QueuedWork]) -> None:
        queued.extend(work)
        raise Interrupted  # the other run's process stops after committing its first batch

    calls = 0

    def now_with_another_run_in_between() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 1:  # this run has read the cursor; the other run writes its first batch
            with pytest.raises(Interrupted):
                plan_announcement(
                    small_batches, announcement_id, lambda: datetime.now(UTC), first_batch_then_stop
                )
        return datetime.now(UTC)

    assert (
        plan_announcement(
            small_batches, announcement_id, now_with_another_run_in_between, queued.extend
        )
        == 0
    )
    # The plan's retry finishes the audience from the cursor.
    plan_announcement(small_batches, announcement_id, lambda: datetime.now(UTC), queued.extend)

    with runtime.sessions() as session:
        stored = session.scalars(
            select(Delivery.contact_id).where(Delivery.announcement_id == announcement_id)
        ).all()
        state = session.scalar(select(Announcement.state).where(Announcement.id == announcement_id))
    assert len(stored) == 12  # 6 families, a text and the email back-up each, once
    assert sorted(i for q in queued for i in q.object_ids) == sorted(
        set(i for q in queued for i in q.object_ids)
    )
    assert len([i for q in queued for i in q.object_ids]) == 12
    assert state in ("sending", "done")
