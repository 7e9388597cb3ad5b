"""``dispatcher config check``: validate the policy, school, calendar and reminder files."""

from __future__ import annotations

import typer

from dispatcher.cli.common import (
    JsonFlag,
    console,
    settings_or_fail,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import print_json as _print_json
from dispatcher.config.files import ConfigError

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


config_app = typer.Typer(help="Policy and school configuration.", no_args_is_help=True)


@config_app.command("check")
def config_check(json_output: JsonFlag = False) -> None:
    """Validate policy.toml, every school file, the calendars and reminders.toml."""
    from dispatcher.config.calendars import load_calendars
    from dispatcher.config.configuration import load_configuration
    from dispatcher.config.reminders import load_reminder_settings

    settings = settings_or_fail()
    try:
        configuration = load_configuration(settings.config_dir)
        calendars = load_calendars(settings.config_dir, configuration)
        load_reminder_settings(settings.config_dir)
    except ConfigError as exc:
        _fail(str(exc))
    trusts = {slug: [s.slug for s in configuration.members(slug)] for slug in configuration.trusts}
    unchecked = sorted(slug for slug, c in calendars.items() if not c.dates_checked)
    if json_output:
        _print_json(
            {
                "categories": sorted(configuration.policy.categories),
                "schools": sorted(configuration.schools),
                "trusts": trusts,
                "calendars": sorted(calendars),
                "calendars_not_checked": unchecked,
            }
        )
        return
    listed = [f"{slug} (pattern, not checked)" if slug in unchecked else slug for slug in calendars]
    console.print(
        f"{len(configuration.policy.categories)} categories, "
        f"{len(configuration.schools)} schools: {', '.join(sorted(configuration.schools))}; "
        f"trusts: {', '.join(f'{t} ({len(m)} schools)' for t, m in sorted(trusts.items()))}; "
        f"calendars: {', '.join(sorted(listed)) or 'none'}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``config`` commands to the ``dispatcher`` command line."""
    app.add_typer(config_app, name="config")
