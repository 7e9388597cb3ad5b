"""How ``dispatcher announce`` shows a plan (the dry run, and the preview before sending):
the contacts apart from the messages, the languages by name, the messages themselves, and
the families no channel can reach, as the office reads them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dispatcher.cli.common import console
from dispatcher.planning.phoning import DO_NOT_PHONE
from dispatcher.rendering.languages import language_label
from dispatcher.rendering.phone_numbers import readable_phone
from dispatcher.reporting.headline import plural


def _by_language(counts: dict[str, int]) -> str:
    return ", ".join(f"{language_label(tag)} {n}" for tag, n in sorted(counts.items())) or "-"


def print_plan(plan: dict[str, Any]) -> None:
    """Show a plan (``PlanSummary.as_json``): who, what, in which language, at what cost."""
    console.rule(f"plan: {plan['category']} ({plan['urgency']}) to {', '.join(plan['audience'])}")
    families = Table("families (parents and carers)", "contacts", title=None)
    families.add_row("receiving it", str(plan["recipients"]))
    families.add_row("  reading", _by_language(plan.get("contact_languages") or {}))
    fallen = plan.get("fallen_back_languages") or {}
    if fallen:
        families.add_row(
            "  no template in their language (get the school's)",
            ", ".join(
                f"{language_label(tag)} {info['contacts']}" for tag, info in sorted(fallen.items())
            ),
        )
    for reason, n in sorted(plan["excluded"].items()):
        families.add_row(f"not messaged, by policy: {reason}", str(n))
    families.add_row("no channel can reach (listed below)", str(len(plan["unreachable"])))
    console.print(families)

    messages = Table("messages", "count")
    messages.add_row("in all", str(plan.get("messages", sum(plan["deliveries"].values()))))
    for channel, n in sorted(plan["deliveries"].items()):
        messages.add_row(f"  {channel}", str(n))
    messages.add_row("  of which email back-ups", str(plan["email_backups"]))
    messages.add_row("  by language", _by_language(plan["languages"]))
    messages.add_row("SMS segments", str(plan["sms_segments"]))
    for language, encoding in sorted(plan["sms_encodings"].items()):
        messages.add_row(f"  SMS encoding, {language_label(language)}", encoding)
    messages.add_row("estimated cost", f"£{plan['estimated_cost_gbp']}")
    console.print(messages)
    if plan["hold_until"]:
        goes = plan["hold_until_local"] or plan["hold_until"]
        why = plan["hold_reason"] or "outside the send window"
        console.print(f"goes out (school time): {goes}", highlight=False, soft_wrap=True)
        console.print(f"  waits because: {why}", highlight=False, soft_wrap=True)
    _print_samples(plan.get("samples") or [])
    _print_unreachable(plan["unreachable"])


def _print_samples(samples: list[dict[str, Any]]) -> None:
    for sample in samples:
        label = language_label(sample["language"])
        lines: list[str] = []
        if sample.get("sms"):
            segments = plural(sample["sms_segments"] or 0, "segment")
            lines += [f"[bold]text[/] ({segments}):", sample["sms"], ""]
        if sample.get("email_subject"):
            lines += [f"[bold]email[/]: {sample['email_subject']}", *sample["email_first_lines"]]
            lines.append("…")
        if sample.get("push_title"):
            lines += ["", f"[bold]app[/]: {sample['push_title']}: {sample['push_body']}"]
        console.rule(f"what families reading {label} get (sample names)", style="dim")
        console.print("\n".join(lines), highlight=False, markup=True)


def _print_unreachable(people: list[dict[str, Any]]) -> None:
    if not people:
        return
    table = Table(
        "student", "contact", "phone", "reason", title="contacts no channel can reach (phone them)"
    )
    for p in people:
        if p.get("phone_advice") == DO_NOT_PHONE:
            relay = readable_phone(p.get("text_relay_number"))
            phone = DO_NOT_PHONE + (f" (text {relay})" if relay else "")
        else:
            phone = readable_phone(p.get("phone")) or "no number on file"
            if p.get("phone_advice"):
                phone += f" ({p['phone_advice']})"
        table.add_row(
            f"{p['student_id']} {p['student_name']}",
            f"{p['contact_id']} {p['contact_name']}",
            phone,
            p["reason"],
        )
    console.print(table)
