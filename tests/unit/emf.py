"""A checker of CloudWatch Embedded Metric Format documents, written from the specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
shared by the unit and flow tests."""

from __future__ import annotations

import json
import math
from typing import Any

from forecast.run.metrics import UNITS


def check_emf(line: str) -> dict[str, Any]:
    """Parse one log line as an EMF document and assert the specification's rules; return it."""
    assert line == line.strip() and line.startswith("{"), "the event is the JSON object alone"
    document = json.loads(line)
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 1_600_000_000_000
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) <= {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        assert directive["Dimensions"], "a directive names at least one dimension set"
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30 and len(set(dimension_set)) == len(dimension_set)
            for key in dimension_set:  # each dimension is a root member holding a string
                assert isinstance(document[key], str) and 1 <= len(document[key]) <= 1024, key
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert metric.get("Unit", "None") in UNITS, metric
            value = document[metric["Name"]]  # the value is present, a number
            assert isinstance(value, int | float) and not isinstance(value, bool), metric
            assert math.isfinite(value), metric
    return document


def metric_values(document: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Return ``{metric: (value, unit)}`` of a checked document."""
    return {
        m["Name"]: (document[m["Name"]], m["Unit"])
        for directive in document["_aws"]["CloudWatchMetrics"]
        for m in directive["Metrics"]
    }
