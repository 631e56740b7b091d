"""``forecast automations``: the alerting automations (``flows/automations.py``) and their
notification block, from the command line.

    forecast automations webhook [--block NAME] < url.txt   # save the webhook block (URL: secret)
    forecast automations apply [--notify-block NAME]        # create or update them by name
    forecast automations list [--json]                      # what the server has
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.events.schemas.automations import Automation, EventTrigger

EXIT_OK, EXIT_FAILED = 0, 1


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _webhook(args: argparse.Namespace) -> int:
    from blocks.alerts import save_alert_webhook

    url = sys.stdin.readline().strip()  # stdin, not argv: keeps it out of shell history and ps
    if not url:
        sys.stderr.write("forecast automations webhook: error: no URL on standard input\n")
        return EXIT_FAILED
    save_alert_webhook(url, args.block)
    _write(f"notification block {args.block!r} saved (custom-webhook, URL stored as a secret)")
    return EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    from flows.automations import apply

    for name, change in apply(args.notify_block):
        _write(f"{name}: {change} (notifies {args.notify_block})")
    return EXIT_OK


def _labels(spec: Any) -> str:
    return ", ".join(
        f"{label}={'|'.join(values)}" for label, values in sorted(spec.items()) if values
    )


def _trigger_lines(trigger: EventTrigger) -> list[str]:
    related = trigger.match_related
    relateds = related if isinstance(related, list) else [related]
    within = trigger.within
    return [
        f"  trigger: {trigger.posture.value}, expect {', '.join(sorted(trigger.expect))}, "
        f"threshold {trigger.threshold}, within {_duration(within)}",
        f"    match: {_labels(trigger.match)}",
        *(f"    related: {_labels(spec)}" for spec in relateds),
    ]


def _duration(value: timedelta) -> str:
    if value >= timedelta(days=1) and value % timedelta(days=1) == timedelta(0):
        return f"{value.days} days"
    return f"{value.total_seconds():g} s"


def _automation_lines(automation: Automation, blocks: dict[Any, str]) -> list[str]:
    state = "enabled" if automation.enabled else "DISABLED"
    lines = [f"{automation.name} ({state}, id {automation.id}): {automation.description}"]
    lines += _trigger_lines(automation.trigger)  # type: ignore[arg-type]
    for action in automation.actions:
        block_id = getattr(action, "block_document_id", None)
        target = f" -> block {blocks.get(block_id, block_id)}" if block_id else ""
        lines.append(f"  action: {action.type}{target}")
    return lines


def _list(args: argparse.Namespace) -> int:
    from flows.automations import alerts, block_names, installed

    found = installed()
    if args.json:
        _write(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
        return EXIT_OK
    ids = {getattr(a, "block_document_id", None) for auto in found for a in auto.actions}
    blocks = block_names({i for i in ids if i is not None})
    for automation in found:
        _write("\n".join(_automation_lines(automation, blocks)))
    missing = sorted({alert.name for alert in alerts()} - {a.name for a in found})
    for name in missing:
        _write(f"{name}: not on this server (forecast automations apply)")
    return EXIT_OK if not missing else EXIT_FAILED


def add_commands(commands: Any) -> None:
    """Add ``automations`` and its subcommands to the ``forecast`` parser's subparsers."""
    from blocks.names import ALERTS_BLOCK

    group = commands.add_parser(
        "automations", help="alerting automations (failed runs, no completed run in 8 days)"
    )
    sub = group.add_subparsers(dest="automations_command", required=True)
    webhook = sub.add_parser(
        "webhook", help="save the notification block: a webhook URL read from standard input"
    )
    webhook.add_argument("--block", default=ALERTS_BLOCK)
    webhook.set_defaults(handler=_webhook)
    apply = sub.add_parser("apply", help="create or update the automations (by name)")
    apply.add_argument("--notify-block", default=ALERTS_BLOCK, metavar="NAME")
    apply.set_defaults(handler=_apply)
    listing = sub.add_parser("list", help="show the automations on the Prefect server")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
