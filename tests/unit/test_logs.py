"""JSON log lines and the redaction every message goes through (forecast/run/logs.py)."""

import json
import logging

import pytest

from forecast.run.logs import JsonFormatter, redact_text


def _record(message: str, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_task_record_becomes_one_json_line_with_its_run_context():
    record = _record(
        "loaded %d documents", 42, flow_run_id="f-1", flow_name="forecast-load",
        task_run_id="t-1", task_name="upsert_observations", task_run_name="upsert-0",
    )  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert document == {
        "timestamp": document["timestamp"], "level": "INFO", "logger": "prefect.task_runs",
        "run_id": "f-1", "flow": "forecast-load", "task_run_id": "t-1",
        "task": "upsert_observations", "message": "loaded 42 documents",
    }  # fmt: skip
    assert document["timestamp"].endswith("+00:00") and "T" in document["timestamp"]


def test_a_record_outside_any_run_has_null_context_and_prefects_placeholder_is_null_too():
    document = json.loads(JsonFormatter().format(_record("hello", flow_name="<unknown>")))
    assert (document["run_id"], document["flow"], document["task"]) == (None, None, None)


def test_multiline_messages_and_exceptions_stay_on_one_line_and_are_redacted():
    try:
        raise ValueError("cannot reach mongodb://loader:hunter2@db:27017/")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "a\nb", (), None)
        record.exc_info = __import__("sys").exc_info()
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1 and "hunter2" not in line
    document = json.loads(line)
    assert document["message"] == "a\nb"
    assert "mongodb://***@db:27017/" in document["exception"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MongoDB mongodb://loader:s3cr%40t%3Apw@127.0.0.1:27017/?tls=true ready",
         "MongoDB mongodb://***@127.0.0.1:27017/?tls=true ready"),
        ("mongodb+srv://u:p@ss@cluster0.example.net/db", "mongodb+srv://***@cluster0.example.net/db"),
        ("GET https://www.infoclimat.fr/opendata/?stations[]=07015&token=abcdef123&start=1",
         "GET https://www.infoclimat.fr/opendata/?stations[]=07015&token=***&start=1"),
        ("password=hunter2 user=x", "password=*** user=x"),
        ("api_key: AKIA123, next", "api_key: ***, next"),
        ("nothing secret here: 4950 rows", "nothing secret here: 4950 rows"),
    ],
)  # fmt: skip
def test_redaction_removes_uri_credentials_and_secret_values(text, expected):
    assert redact_text(text) == expected


def test_the_formatter_redacts_arguments_merged_into_the_message():
    line = JsonFormatter().format(_record("target %s", "mongodb://a:topsecret@h/"))
    assert "topsecret" not in line and json.loads(line)["message"] == "target mongodb://***@h/"
