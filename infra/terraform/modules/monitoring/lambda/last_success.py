"""Publish how many pipeline runs succeeded over the last N days (the sum of RunSucceeded).

CloudWatch alarms cannot look back more than 7 days (Period x EvaluationPeriods <= 604,800 s),
so the "no successful run in 8 days" check sums the pipeline's own EMF metric RunSucceeded
(1 per successful run, 0 otherwise; dimension Environment) over the lookback with
GetMetricData, which has no such limit, and publishes the sum as an hourly metric; the alarm
fires when it is < 1 (or missing).
"""

import datetime
import os

import boto3

CW = boto3.client("cloudwatch")


def successful_runs(namespace, metric, environment, days, now):
    """Return the sum of ``metric`` (dimension Environment) over the ``days`` before ``now``."""
    query = {
        "Id": "succeeded",
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": "Environment", "Value": environment}],
            },
            "Period": 3600,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }
    kwargs = {
        "MetricDataQueries": [query],
        "StartTime": now - datetime.timedelta(days=days),
        "EndTime": now,
    }
    total = 0.0
    while True:
        page = CW.get_metric_data(**kwargs)
        for result in page.get("MetricDataResults", []):
            total += sum(result.get("Values", []))
        token = page.get("NextToken")
        if not token:
            return total
        kwargs["NextToken"] = token


def handler(event, context):
    days = int(os.environ["LOOKBACK_DAYS"])
    namespace, environment = os.environ["METRIC_NAMESPACE"], os.environ["ENVIRONMENT"]
    now = datetime.datetime.now(datetime.UTC)
    count = successful_runs(namespace, os.environ["SOURCE_METRIC"], environment, days, now)
    CW.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": os.environ["METRIC_NAME"],
                "Dimensions": [{"Name": "Environment", "Value": environment}],
                "Value": count,
                "Unit": "Count",
            }
        ],
    )
    return {"successful_runs": count, "lookback_days": days, "environment": environment}
