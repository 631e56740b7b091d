"""Alerting as code: the Prefect automations of Forecast 2.0, defined here and only here.

``ALERTS`` lists them (name, trigger, message); ``apply`` creates each one on the Prefect server
or updates the one of the same name, every action a ``send-notification`` to one notification
block (``blocks.alerts``, default ``forecast-alerts``). ``forecast automations apply`` and
``forecast automations list`` are the commands.

- ``forecast-run-failed``: a flow run of a deployment of ``forecast-pipeline`` or
  ``forecast-backfill`` entered Failed or Crashed (one notification per run; the subflows'
  own failures are not matched, their parent's is).
- ``forecast-no-completed-run``: no flow run of a ``forecast-pipeline`` deployment completed in
  8 days (the weekly schedule plus a day); proactive, it fires on the absence of the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast
from uuid import UUID

from prefect.automations import (
    AutomationCore,
    EventTrigger,
    Posture,
    ResourceSpecification,
    SendNotification,
)
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import Automation

from blocks.names import ALERTS_BLOCK
from forecast.errors import ConfigurationError

TAG = "forecast-2-0"
FAILED_EVENTS = ("prefect.flow-run.Failed", "prefect.flow-run.Crashed")
COMPLETED_EVENT = "prefect.flow-run.Completed"
WATCHED_FLOWS = ("forecast-pipeline", "forecast-backfill")
PIPELINE_FLOW = "forecast-pipeline"
STALE_AFTER = timedelta(days=8)


@dataclass(frozen=True)
class Alert:
    """One automation: its name, what it is for, its trigger and the notification it sends."""

    name: str
    description: str
    trigger: EventTrigger
    subject: str
    body: str

    def automation(self, block_document_id: UUID) -> AutomationCore:
        """The automation that sends this alert to the notification block."""
        return AutomationCore(
            name=self.name,
            description=self.description,
            enabled=True,
            tags=[TAG],
            trigger=self.trigger,
            actions=[
                SendNotification(
                    block_document_id=block_document_id, subject=self.subject, body=self.body
                )
            ],
            actions_on_trigger=[],
            actions_on_resolve=[],
        )


def _deployment_runs_of(*flows: str) -> dict[str, object]:
    """Trigger filters: a flow run (primary resource) of one of ``flows``, run from a deployment."""
    return {
        "match": ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
        "match_related": [
            ResourceSpecification(
                {"prefect.resource.role": "flow", "prefect.resource.name": list(flows)}
            ),
            ResourceSpecification(
                {
                    "prefect.resource.role": "deployment",
                    "prefect.resource.id": "prefect.deployment.*",
                }
            ),
        ],
    }


def alerts(stale_after: timedelta = STALE_AFTER) -> tuple[Alert, ...]:
    """The project's automations (``stale_after``: the proactive window, 8 days in production)."""
    days = stale_after / timedelta(days=1)
    window = f"{days:g} days" if days >= 1 else f"{stale_after.total_seconds():g} s"
    return (
        Alert(
            name="forecast-run-failed",
            description="A run of a Forecast 2.0 deployment failed or crashed.",
            trigger=EventTrigger(
                expect=set(FAILED_EVENTS),
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
                **_deployment_runs_of(*WATCHED_FLOWS),  # type: ignore[arg-type]
            ),
            subject="Forecast 2.0: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}",
            body=(
                "Flow run {{ flow_run.name }} ({{ flow_run.id }}) of deployment "
                "{{ deployment.name }} entered {{ flow_run.state.name }} "
                "at {{ event.occurred }}: {{ flow_run.state.message }}"
            ),
        ),
        Alert(
            name="forecast-no-completed-run",
            description=f"No run of a {PIPELINE_FLOW} deployment completed in {window}.",
            trigger=EventTrigger(
                expect={COMPLETED_EVENT},
                posture=Posture.Proactive,
                threshold=1,
                within=stale_after,
                **_deployment_runs_of(PIPELINE_FLOW),  # type: ignore[arg-type]
            ),
            subject=f"Forecast 2.0: no completed {PIPELINE_FLOW} run in {window}",
            body=(
                f"No flow run of a {PIPELINE_FLOW} deployment reached Completed in the last "
                f"{window} (automation {{{{ automation.name }}}}). Check the schedule, the work "
                "pool's worker and the latest failed runs."
            ),
        ),
    )


def notification_block_id(name: str) -> UUID:
    """Return the block document id of the notification block ``name``.

    Raises:
        ConfigurationError: no such block (the message names the command that creates it).
    """
    try:
        block = cast(CustomWebhookNotificationBlock, CustomWebhookNotificationBlock.load(name))
    except ValueError as exc:
        raise ConfigurationError(
            f"notification block {name!r} not found: create it with "
            f"`forecast automations webhook --block {name} < url.txt`"
        ) from exc
    block_id = block._block_document_id
    if block_id is None:
        raise ConfigurationError(f"notification block {name!r} has no document id")
    return block_id


Change = Literal["created", "updated", "unchanged"]


def apply(
    notify_block: str = ALERTS_BLOCK, stale_after: timedelta = STALE_AFTER
) -> list[tuple[str, Change]]:
    """Create or update every automation by name (a duplicate of a name is deleted)."""
    block_id = notification_block_id(notify_block)
    changes: list[tuple[str, Change]] = []
    with get_client(sync_client=True) as client:
        for alert in alerts(stale_after):
            wanted = alert.automation(block_id)
            existing = client.read_automations_by_name(alert.name)
            if not existing:
                client.create_automation(wanted)
                changes.append((alert.name, "created"))
                continue
            first, *duplicates = existing
            for duplicate in duplicates:
                client.delete_automation(duplicate.id)
            current = AutomationCore.model_validate(first.model_dump(exclude={"id"}))
            if current == wanted and not duplicates:
                changes.append((alert.name, "unchanged"))
                continue
            client.update_automation(first.id, wanted)
            changes.append((alert.name, "updated"))
    return changes


def installed() -> list[Automation]:
    """The project's automations on the server (by the names ``alerts`` defines), in order."""
    names = [alert.name for alert in alerts()]
    with get_client(sync_client=True) as client:
        found = [a for name in names for a in client.read_automations_by_name(name)]
    return found


def block_names(ids: set[UUID]) -> dict[UUID, str]:
    """Block document id -> name (for showing which block an action sends to)."""
    with get_client(sync_client=True) as client:
        return {block_id: client.read_block_document(block_id).name or "" for block_id in ids}
