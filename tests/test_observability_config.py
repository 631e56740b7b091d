"""The observability wiring that needs no flow run: the JSON logging config, the handler swap,
the namespace the flows and Terraform share, and the "no successful run" Lambda against moto."""

from __future__ import annotations

import importlib.util
import json
import logging
import logging.config
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import hcl2
import prefect.logging
import pytest
import yaml
from moto import mock_aws

from flows import observability
from forecast.run import metrics
from forecast.run.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "infra" / "terraform" / "modules" / "monitoring"
PREFECT_LOGGING = Path(prefect.logging.__file__).with_name("logging.yml")


def _variable_default(name: str):
    variables = hcl2.loads((MONITORING / "variables.tf").read_text(encoding="utf-8"))["variable"]
    (body,) = [v[f'"{name}"'] for v in variables if f'"{name}"' in v]
    return body["default"].strip('"') if isinstance(body["default"], str) else body["default"]


def test_the_json_logging_config_is_prefects_with_json_console_and_debug_handlers():
    ours = yaml.safe_load(observability.LOGGING_CONFIG.read_text(encoding="utf-8"))
    theirs = yaml.safe_load(PREFECT_LOGGING.read_text(encoding="utf-8"))
    assert ours["formatters"].pop("forecast_json") == {"()": "forecast.run.logs.JsonFormatter"}
    assert ours["handlers"].pop("console") == {
        "level": 0, "class": "logging.StreamHandler", "formatter": "forecast_json",
        "stream": "ext://sys.stderr",
    }  # fmt: skip
    assert ours["handlers"]["debug"].pop("formatter") == "forecast_json"
    theirs["handlers"].pop("console")
    theirs["handlers"]["debug"].pop("formatter")
    assert ours == theirs  # a Prefect upgrade that changes its file shows up here


def test_the_logging_config_builds_with_dictconfig(monkeypatch):
    from prefect.logging.configuration import load_logging_config

    config = load_logging_config(observability.LOGGING_CONFIG)
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["forecast_json"]
    )
    assert isinstance(formatter, JsonFormatter)


@pytest.fixture
def restored_handlers():
    """Put every logger's handlers back as they were (the swap changes process-wide state)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved = {lg: list(lg.handlers) for lg in loggers}
    yield
    for lg, handlers in saved.items():
        lg.handlers[:] = handlers


def test_json_logs_replace_prefects_console_handlers_in_a_running_process(
    monkeypatch, restored_handlers
):
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    console = PrefectConsoleHandler()
    root.addHandler(console)
    monkeypatch.delenv("FORECAST_LOG_FORMAT", raising=False)
    assert observability.use_json_logs() == 0 and console in root.handlers
    monkeypatch.setenv("FORECAST_LOG_FORMAT", "json")
    monkeypatch.delenv("PREFECT_LOGGING_SETTINGS_PATH", raising=False)
    assert observability.use_json_logs() >= 1
    assert not [h for h in root.handlers if isinstance(h, PrefectConsoleHandler)]
    replacements = [h for h in root.handlers if getattr(h, "stream", None) is console.stream
                    and isinstance(h.formatter, JsonFormatter)]  # fmt: skip
    assert replacements and {type(h) for h in replacements} == {logging.StreamHandler}
    assert observability.use_json_logs() == 0  # idempotent
    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(observability.LOGGING_CONFIG)


def test_the_flows_and_terraform_use_the_same_namespace():
    assert _variable_default("metric_namespace") == metrics.NAMESPACE


def _lambda_module(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    spec = importlib.util.spec_from_file_location(
        "last_success", MONITORING / "lambda" / "last_success.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_succeeded(cloudwatch, environment: str, value: int, at: datetime) -> None:
    cloudwatch.put_metric_data(
        Namespace=metrics.NAMESPACE,
        MetricData=[{"MetricName": "RunSucceeded", "Value": value, "Unit": "Count", "Timestamp": at,
                     "Dimensions": [{"Name": "Environment", "Value": environment}]}],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([("prod", 1, 2)], 1.0),  # one success two days ago
        ([("prod", 0, 1), ("prod", 0, 3)], 0.0),  # only failed runs
        ([("prod", 1, 9)], 0.0),  # the last success is older than the lookback
        ([("staging", 1, 1)], 0.0),  # another environment's success does not count
        ([("prod", 1, 1), ("prod", 1, 7)], 2.0),
    ],
)
def test_the_check_publishes_the_successful_runs_of_its_environment_over_the_lookback(
    monkeypatch, runs, expected
):
    with mock_aws():
        module = _lambda_module(monkeypatch)
        cloudwatch = boto3.client("cloudwatch")
        now = datetime.now(UTC)
        for environment, value, days_ago in runs:
            _run_succeeded(cloudwatch, environment, value, now - timedelta(days=days_ago))
        for key, value in {"LOOKBACK_DAYS": "8", "METRIC_NAMESPACE": metrics.NAMESPACE,
                           "ENVIRONMENT": "prod", "SOURCE_METRIC": "RunSucceeded",
                           "METRIC_NAME": "SuccessfulRunsLookback"}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        result = module.handler({}, None)
        assert result == {"successful_runs": expected, "lookback_days": 8, "environment": "prod"}
        published = cloudwatch.get_metric_statistics(
            Namespace=metrics.NAMESPACE, MetricName="SuccessfulRunsLookback",
            Dimensions=[{"Name": "Environment", "Value": "prod"}],
            StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1),
            Period=3600, Statistics=["Minimum"],
        )["Datapoints"]  # fmt: skip
        assert [p["Minimum"] for p in published] == [expected], json.dumps(published, default=str)
