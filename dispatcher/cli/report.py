"""``dispatcher report``: what became of an announcement, and the families the office should
phone."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dispatcher.cli.common import (
    JsonFlag,
    console,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json
from dispatcher.planning.phoning import DO_NOT_PHONE
from dispatcher.rendering.phone_numbers import readable_phone
from dispatcher.reporting.headline import report_headline

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


def report(
    announcement_id: Annotated[int, typer.Argument(help="Announcement id.")],
    json_output: JsonFlag = False,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="The not-reached list as CSV, for the office.")
    ] = False,
) -> None:
    """Per channel: pending, sent, delivered and failed; fallbacks, escalations, timings,
    replies, and the families not reached with the numbers to phone."""
    from dispatcher.reporting.csv_safe import SafeDictWriter
    from dispatcher.reporting.reports import NOT_REACHED_COLUMNS, NotFound, announcement_report

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            data = announcement_report(session, announcement_id, runtime.configuration)
        except NotFound as exc:
            _fail(str(exc))
    if json_output:
        _print_json(data)
    elif csv_output:
        writer = SafeDictWriter(
            sys.stdout, fieldnames=list(NOT_REACHED_COLUMNS), extrasaction="ignore"
        )
        writer.writeheader()
        for person in data["not_reached"]:
            writer.writerow(not_reached_csv_row(person))
    else:
        print_report(data)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def print_report(data: dict[str, Any]) -> None:
    """Show a report as tables: counts per channel, fallbacks and escalations, timings,
    replies, and the families not reached (for the office to phone)."""
    console.rule(f"announcement {data['announcement_id']}: {data['category']} at {data['school']}")
    for line in data.get("headline") or report_headline(data):
        console.print(line, highlight=False)
    if data.get("outbox"):
        console.print(f"[bold yellow]{data['outbox']['line']}[/]", highlight=False)
    summary = data.get("summary") or {}
    columns = ("pending", "sent", "delivered", "failed")
    table = Table("channel", *columns, "fallbacks", "escalations", "total")
    fallbacks = (data.get("fallbacks") or {}).get("by_channel", {})
    escalations = (data.get("escalations") or {}).get("by_channel", {})
    for channel, per in summary.items():
        table.add_row(
            channel,
            *(str(per.get(c, 0)) for c in columns),
            str(fallbacks.get(channel, 0)),
            str(escalations.get(channel, 0)),
            str(sum(per.values())),
        )
    console.print(table)
    console.print(
        f"recipients: {data['recipients']}; email back-ups: "
        f"{data['deliveries_by_kind'].get('backup', 0)}; fallbacks taken: "
        f"{(data.get('fallbacks') or {}).get('total', 0)}; escalations to another contact: "
        f"{(data.get('escalations') or {}).get('total', 0)}"
    )
    fell_back = ", ".join(
        f"{lang['name']} ({lang['contacts']})" for lang in data["fallen_back_languages"].values()
    )
    console.print(
        f"messages in the school's language, none in the contact's: "
        f"{data['language_fallbacks']}{f' (asked for: {fell_back})' if fell_back else ''}; "
        f"excluded (not messaged, by policy): "
        f"{sum(data['excluded'].values())}; contacts not reached: {len(data['not_reached'])}"
    )
    if data["first_sent_at"]:
        console.print(
            f"first sent {_duration(data.get('seconds_to_first_sent'))} after the trigger, "
            f"last sent after {_duration(data.get('seconds_to_last_sent'))}"
        )
    if data.get("first_delivered_at"):
        console.print(
            f"first delivery confirmed {_duration(data.get('seconds_to_first_delivered'))} "
            f"after the trigger, last after {_duration(data.get('seconds_to_last_delivered'))}"
        )
    for channel, waiting in (data.get("waiting_for_provider") or {}).items():
        console.print(
            f"[bold red]{channel}: {waiting['count']} waiting[/] because the provider refused "
            f"the school's account ({waiting['reason']}); they go once it is fixed "
            "(the IT lead was alerted; `dispatcher channels status`)",
            highlight=False,
        )
    twice = data.get("possibly_sent_twice") or 0
    if twice:
        ids = ", ".join(str(d["delivery_id"]) for d in data.get("possible_duplicates") or [])
        console.print(
            f"[bold yellow]possibly sent twice: {twice}[/] (a worker stopped while these "
            f"requests were in flight, and they were sent again): deliveries {ids}",
            highlight=False,
        )
    replies = data.get("replies") or []
    if replies:
        replies_table = Table("received", "contact", "phone", "reply", title="replies")
        for reply in replies:
            replies_table.add_row(
                reply["received_at"],
                f"{reply['contact_id']} {reply['contact_name']}".strip() or "-",
                readable_phone(reply["phone"]),
                reply["body"],
            )
        console.print(replies_table)
    print_not_reached(data["not_reached"])


def _phone_cell(person: dict[str, Any]) -> str:
    """How to reach a contact, as the office reads it: never a number to ring for a contact
    who must not be phoned."""
    advice = person.get("phone_advice") or ""
    if advice == DO_NOT_PHONE:
        relay = readable_phone(person.get("text_relay_number"))
        return f"{DO_NOT_PHONE}" + (f" (text {relay})" if relay else "")
    phone = readable_phone(person.get("phone"))
    if not phone:
        return "no number on file"
    return f"{phone} ({advice})" if advice else phone


def _other_numbers(person: dict[str, Any]) -> str:
    numbers = [
        readable_phone(o["phone"]) + (f" ({o['phone_advice']})" if o.get("phone_advice") else "")
        for o in person.get("other_numbers") or []
    ]
    return ", ".join(numbers) or "-"


def print_not_reached(people: list[dict[str, Any]]) -> None:
    """The not-reached list as two tables: the families nobody reached, with the numbers to
    phone (or "do not phone"), and the contacts whose family someone else reached (no call
    needed)."""
    unreached = [p for p in people if not p.get("family_reached")]
    covered = [p for p in people if p.get("family_reached")]
    if unreached:
        table = Table(
            "student",
            "contact",
            "phone",
            "other numbers",
            "reason",
            "calls so far",
            title="families not reached: please contact them",
        )
        for p in unreached:
            table.add_row(
                escape(f"{p['student_id']} {p['student_name']}"),
                escape(f"{p['contact_id']} {p['contact_name']}"),
                _phone_cell(p),
                _other_numbers(p),
                p["reason"],
                escape(last_call(p)) or "-",
            )
        console.print(table)
    if covered:
        table = Table(
            "student",
            "contact",
            "reason",
            title="not reached by message, but the family has it: no call needed",
        )
        for p in covered:
            told = f"; told by phone: {last_call(p)}" if p.get("told_by_phone") else ""
            table.add_row(
                escape(f"{p['student_id']} {p['student_name']}"),
                escape(f"{p['contact_id']} {p['contact_name']}"),
                escape(p["reason"] + told),
            )
        console.print(table)


def last_call(person: dict[str, Any]) -> str:
    """The family's latest logged call in a few words, e.g. "no answer (Jo Bloggs, Monday
    7 December 2026 at 09:05, to C2): try after 10"; empty when nobody has phoned."""
    calls = person.get("calls") or []
    if not calls:
        return ""
    call = calls[-1]
    note = f": {call['note']}" if call.get("note") else ""
    when = call.get("at_local") or call["at"]
    outcome = call["outcome"].replace("_", " ")
    return f"{outcome} ({call['called_by']}, {when}, to {call['contact_id']}){note}"


def not_reached_csv_row(person: dict[str, Any]) -> dict[str, Any]:
    """One line of ``report --csv``: the office's phone list, so numbers are written as
    people dial them (``07700 900123``; decision 0067) and ``family_reached`` as yes/no."""
    others = [
        readable_phone(o["phone"]) + (f" ({o['phone_advice']})" if o.get("phone_advice") else "")
        for o in person.get("other_numbers") or []
    ]
    return {
        **person,
        "phone": readable_phone(person.get("phone")),
        "text_relay_number": readable_phone(person.get("text_relay_number")),
        "family_reached": "yes" if person.get("family_reached") else "no",
        "other_phones": "; ".join(others),
        "last_call": last_call(person),
    }


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``dispatcher`` command line."""
    app.command("report")(report)
