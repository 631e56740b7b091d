"""Publish how many flow runs finished in state Completed over the last N days.

CloudWatch alarms cannot look back more than 7 days (Period x EvaluationPeriods <= 604,800 s),
so the "no successful run in 8 days" check counts matches in the flow log group itself and
publishes the count as an hourly metric; the alarm fires when it is < 1 (or missing).
"""

import os
import time

import boto3

LOGS = boto3.client("logs")
CW = boto3.client("cloudwatch")


def handler(event, context):
    days = int(os.environ["LOOKBACK_DAYS"])
    now_ms = int(time.time() * 1000)
    kwargs = {
        "logGroupName": os.environ["LOG_GROUP_NAME"],
        "filterPattern": '"Finished in state Completed"',
        "startTime": now_ms - days * 86_400_000,
        "endTime": now_ms,
    }
    count = 0
    while True:
        page = LOGS.filter_log_events(**kwargs)
        count += len(page.get("events", []))
        token = page.get("nextToken")
        if not token or count:
            break
        kwargs["nextToken"] = token
    CW.put_metric_data(
        Namespace=os.environ["METRIC_NAMESPACE"],
        MetricData=[{"MetricName": os.environ["METRIC_NAME"], "Value": count, "Unit": "Count"}],
    )
    return {"completed_runs": count, "lookback_days": days}
