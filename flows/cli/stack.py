"""The local stack and configuration: ``setup``, ``stop``, ``status``, ``ui``, ``token``, ``blocks-aws``, ``demo``, ``docs``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flows.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_mongo_uri,
    home,
    mongo_uri,
    write,
)


def _setup(args: argparse.Namespace) -> int:
    from forecast.localstack import LocalMongo

    state = home()
    uri = mongo_uri(args)
    if uri is None:
        uri = LocalMongo(state, port=args.port).start()
        write(
            sys.stdout,
            f"local MongoDB (SecantusDB) running at {uri} with data in {state / 'mongo' / 'data'}",
        )
    api = _prefect_api(args)
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from blocks.local import save_local_lake, save_mongo

    # Prefect read its settings when it was imported, before the server was started here.
    updates = {PREFECT_API_URL: os.environ.get("PREFECT_API_URL"),
               PREFECT_API_AUTH_STRING: os.environ.get("PREFECT_API_AUTH_STRING")}  # fmt: skip
    with temporary_settings(updates=updates if api else {}):
        save_local_lake(state / "lake")
        save_mongo(uri)
    write(
        sys.stdout,
        f"blocks saved: forecast-lake -> {state / 'lake'}/{{raw,processed,rejected,reports}}, "
        f"forecast-mongo ({'in the Prefect server at ' + api if api else 'in the ephemeral API database'})",
    )
    return EXIT_OK


def _prefect_api(args: argparse.Namespace) -> str | None:
    """Start the local Prefect server unless told not to or another API is configured; point
    this process at it; return the API URL the blocks go to (None: the ephemeral API)."""
    from forecast.localstack import LocalPrefectServer, configured_api

    server = LocalPrefectServer(home(), port=args.prefect_port)
    local = server.client_settings()
    configured, is_local = configured_api(local)
    if configured and not is_local:
        write(
            sys.stdout,
            f"Prefect API: {configured} (PREFECT_API_URL); no local Prefect server started",
        )
        return configured
    if args.no_prefect_server:
        if local is not None:  # this process already talks to it (flows.state)
            write(sys.stdout, f"Prefect API: the local Prefect server at {local['PREFECT_API_URL']} "
                  "is running, the blocks go there (`forecast stop` stops it)")  # fmt: skip
            return local["PREFECT_API_URL"]
        write(sys.stdout, "Prefect API: ephemeral (each command starts its own; no local server)")
        return None
    url = server.start()
    settings = server.client_settings()
    assert settings is not None  # it was just started
    os.environ.update(settings)  # this process, and what it starts
    write(sys.stdout, f"local Prefect server: {server.status()}")
    return url


def _ui(args: argparse.Namespace) -> int:
    """The Prefect UI of the local server (started if needed): where, and how to sign in."""
    from forecast.localstack import LocalPrefectServer

    server = LocalPrefectServer(home(), port=args.prefect_port)
    url = server.start().removesuffix("/api")
    write(sys.stdout, f"Prefect UI: {url} (local Prefect server, PostgreSQL-backed)")
    write(
        sys.stdout,
        f"sign in with the auth string: the value of PREFECT_API_AUTH_STRING in {server.client_file} "
        "(readable by you only)",
    )
    write(
        sys.stdout,
        f"the prefect CLI in a shell: set -a; . {server.client_file}; set +a",
    )
    return EXIT_OK


def _stop(args: argparse.Namespace) -> int:
    from forecast.localstack import LocalMongo, LocalPrefectServer

    stopped = LocalMongo(home(), port=args.port).stop()
    write(sys.stdout, "local MongoDB stopped" if stopped else "local MongoDB was not running")
    stopped = LocalPrefectServer(home()).stop()
    write(
        sys.stdout,
        "local Prefect server stopped" if stopped else "local Prefect server was not running",
    )
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from forecast.localstack import LocalMongo, LocalPrefectServer, configured_api

    server = LocalPrefectServer(home())
    write(sys.stdout, f"FORECAST_HOME: {os.environ.get('FORECAST_HOME', home())}")
    write(sys.stdout, f"PREFECT_HOME: {os.environ.get('PREFECT_HOME', '~/.prefect')}")
    write(sys.stdout, f"local MongoDB: {LocalMongo(home(), port=args.port).status()}")
    write(sys.stdout, f"local Prefect server: {server.status()}")
    api, is_local = configured_api(server.client_settings())
    if not api:
        where = "ephemeral (each command starts its own)"
    elif is_local:
        where = f"{api} (the local Prefect server)"
    else:
        where = f"{api} (PREFECT_API_URL)"
    write(sys.stdout, f"Prefect API: {where}")
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    from prefect.blocks.system import Secret
    from pydantic import SecretStr

    token = sys.stdin.readline().strip()  # stdin, not argv: keeps it out of shell history and ps
    if not token:
        write(sys.stderr, "forecast token: error: no token on standard input")
        return EXIT_FAILED
    Secret(value=SecretStr(token)).save(args.block, overwrite=True)
    write(sys.stdout, f"token saved in Secret block {args.block!r}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from forecast.samples import write_demo_landing

    files = write_demo_landing(Path(args.out))
    for sample in files:
        write(sys.stdout, f"{sample.path}: {sum(sample.rows.values())} observations")
    return EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    from forecast.quality.docs import data_quality_markdown

    Path(args.out).write_text(data_quality_markdown(), encoding="utf-8")
    write(sys.stdout, f"wrote {args.out}")
    return EXIT_OK


def _blocks_aws(args: argparse.Namespace) -> int:
    import boto3

    from blocks.production import load_outputs, save_production_blocks

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        write(sys.stderr, "forecast blocks-aws: error: give --region or set AWS_REGION")
        return EXIT_FAILED
    outputs = load_outputs(Path(args.terraform_outputs), region)
    saved = save_production_blocks(outputs, boto3.client("secretsmanager", region_name=region))
    write(sys.stdout, f"blocks saved: {', '.join(saved)}")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this group's commands to the ``forecast`` parser."""
    from blocks.names import INFOCLIMAT_TOKEN_BLOCK
    from forecast.localstack import DEFAULT_PORT, PREFECT_PORT

    aws = commands.add_parser(
        "blocks-aws",
        help="save the production blocks (S3 zones, MongoDB URI from Secrets Manager) from "
        "`terraform output -json`",
    )
    aws.add_argument("--terraform-outputs", required=True, metavar="FILE")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION)")
    aws.set_defaults(handler=_blocks_aws)

    setup = commands.add_parser(
        "setup",
        help="start the local MongoDB (unless --mongo-uri) and the local Prefect server "
        "(PostgreSQL-backed, basic auth; unless PREFECT_API_URL or --no-prefect-server), save "
        "the local blocks",
    )
    add_mongo_uri(setup, "use this MongoDB instead of starting the local one")
    setup.add_argument("--port", type=int, default=DEFAULT_PORT, help="the local MongoDB's port")
    setup.add_argument(
        "--prefect-port", type=int, default=PREFECT_PORT, help="the local Prefect server's port"
    )
    setup.add_argument(
        "--no-prefect-server", action="store_true",
        help="start no Prefect server: commands use Prefect's ephemeral API (SQLite)",
    )  # fmt: skip
    setup.set_defaults(handler=_setup)

    for name, handler, text in (
        ("stop", _stop, "stop the local MongoDB and the local Prefect server"),
        ("status", _status, "show the state homes, the local MongoDB's and Prefect server's state"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--port", type=int, default=DEFAULT_PORT, help="the local MongoDB's port")
        sub.set_defaults(handler=handler)

    ui = commands.add_parser(
        "ui", help="start the local Prefect server if needed; print its UI's URL and sign-in"
    )
    ui.add_argument("--prefect-port", type=int, default=PREFECT_PORT)
    ui.set_defaults(handler=_ui)

    token = commands.add_parser(
        "token", help="save the InfoClimat API token (read from stdin) in a Secret block"
    )
    token.add_argument("--block", default=INFOCLIMAT_TOKEN_BLOCK)
    token.set_defaults(handler=_token)

    demo = commands.add_parser("demo", help="write demo inputs in the real source formats")
    demo.add_argument("--out", required=True)
    demo.set_defaults(handler=_demo)

    docs = commands.add_parser("docs", help="generate docs/data-quality.md from the rule catalogue")
    docs.add_argument("--out", default="docs/data-quality.md")
    docs.set_defaults(handler=_docs)
