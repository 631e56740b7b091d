"""MongoDB diagnostics: ``forecast crud-check`` and ``forecast latency``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from flows.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_mongo_uri,
    mongo_uri,
    positive,
    write,
)

if TYPE_CHECKING:
    from forecast.mongo import MongoTarget


def _mongo_target(args: argparse.Namespace) -> MongoTarget:
    """Return the target of a diagnostic command: ``--mongo-uri`` as given, else the block.

    No flow runs here, so a ``--mongo-uri`` is used directly (nothing is saved) and the command
    works without the Prefect API; ``--database`` overrides the database either way.
    """
    import dataclasses

    from forecast.mongo import MongoTarget

    uri = mongo_uri(args)
    if uri:
        target = MongoTarget(uri=uri)
    else:
        from tasks.config import load_mongo

        target = load_mongo(args.mongo_block)
    return dataclasses.replace(target, database=args.database) if args.database else target


def _text_table(rows: list[dict[str, object]]) -> str:
    """Return rows (dicts with the same keys) as left-aligned plain-text columns."""
    header = list(rows[0])
    cells = [header, *([str(row[key]) for key in header] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _crud_check(args: argparse.Namespace) -> int:
    """Create, read, update and delete a probe document; 0 when every step worked."""
    import json

    from forecast.mongo import connect, redact
    from forecast.mongo.probe import crud_check

    target = _mongo_target(args)
    with connect(target) as client:
        report = crud_check(client, target, collection=args.collection)
    if args.json:
        write(sys.stdout, json.dumps(report.to_dict(), indent=2))
    else:
        write(
            sys.stdout, f"CRUD check of {redact(target.uri)} {target.database}.{report.collection}"
        )
        write(sys.stdout, _text_table(report.to_rows()))
        failed = [step.name for step in report.steps if not step.ok]
        verdict = "all steps ok" if report.ok else f"FAILED: {', '.join(failed)}"
        dropped = "dropped" if report.dropped else "kept (not empty)"
        write(sys.stdout, f"{verdict}; scratch collection {dropped}")
    return EXIT_OK if report.ok else EXIT_FAILED


def _latency(args: argparse.Namespace) -> int:
    """Time the standard queries; print their statistics and plans (1 when there is no data)."""
    import json

    from forecast.mongo.latency import STANDARD_QUERIES, measure_latency, measuring_client
    from forecast.run.reports import LatencyReport

    target = _mongo_target(args)
    with measuring_client(target) as client:
        report = LatencyReport(
            args.iterations, tuple(measure_latency(client, target, args.iterations))
        )
    if not report.queries:
        write(
            sys.stderr,
            f"forecast latency: {target.database}.{target.collection} holds no observations: "
            "nothing to measure (load data first)",
        )
        return EXIT_FAILED
    if args.json:
        write(sys.stdout, json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    write(sys.stdout, f"query latency of {target.display}: {args.iterations} iterations each, "
           f"ms = {report.TIMING}")  # fmt: skip
    rows = [{k: v for k, v in row.items() if k != "description"} for row in report.to_rows()]
    write(sys.stdout, _text_table(rows))
    for query in report.queries:
        write(sys.stdout, f"  {query.name}: {query.description}")
    measured = {query.name for query in report.queries}
    for name in (name for name in STANDARD_QUERIES if name not in measured):
        write(sys.stdout, f"  {name}: not measured (its collection does not exist yet)")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this group's commands to the ``forecast`` parser."""
    from blocks.names import MONGO_BLOCK

    crud = commands.add_parser(
        "crud-check", help="create, read, update and delete a probe document in MongoDB"
    )
    crud.add_argument("--collection", default="_forecast_crud_probe", help="scratch collection")
    latency = commands.add_parser(
        "latency", help="time the standard data-science queries and show their plans"
    )
    latency.add_argument("--iterations", type=positive, default=5)
    for sub, handler in ((crud, _crud_check), (latency, _latency)):
        add_mongo_uri(sub, "use this MongoDB instead of the block's")
        sub.add_argument("--mongo-block", default=MONGO_BLOCK)
        sub.add_argument("--database", help="database (default: the block's, or forecast_2_0)")
        sub.add_argument("--json", action="store_true", help="print the report as JSON")
        sub.set_defaults(handler=handler)
