data "aws_caller_identity" "current" {}

locals {
  namespace = var.metric_namespace
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- Alarms on the pipeline's own metrics (EMF) ---------------------------------------------
# Every pipeline run, failed ones included, writes CloudWatch Embedded Metric Format lines to
# stdout (flows/observability.py, forecast/metrics.py); the ECS task ships them to the flow log
# group, where CloudWatch extracts them into var.metric_namespace. Each metric is published under
# the dimension set [Environment] (read here: one series per environment whatever the
# deployment) and [Environment, Flow, Deployment] (dashboards). They replace the log metric
# filters on Prefect's "Finished in state ..." text, which also counted subflows (a subflow
# that completed inside a failed run read as a success) and changes with Prefect's wording.

locals {
  environment = { Environment = var.environment }
}

resource "aws_cloudwatch_metric_alarm" "failed" {
  alarm_name          = "${var.name}-flow-run-failed"
  alarm_description   = "A forecast pipeline run did not succeed (RunSucceeded = 0: failed, held or partial). Its status is in reports/run=<id>/pipeline_status.json."
  namespace           = local.namespace
  metric_name         = "RunSucceeded"
  dimensions          = local.environment
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "rejection_rate" {
  alarm_name          = "${var.name}-rejection-rate-high"
  alarm_description   = "A forecast pipeline run rejected more than ${var.rejection_rate_threshold_percent} % of its in-window records (RejectionRate)."
  namespace           = local.namespace
  metric_name         = "RejectionRate"
  dimensions          = local.environment
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.rejection_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# One alarm per standard query: each has its own p95 (metric QueryLatencyP95, dimension Query).
resource "aws_cloudwatch_metric_alarm" "latency_p95" {
  for_each            = toset(var.latency_queries)
  alarm_name          = "${var.name}-latency-p95-${replace(each.key, "_", "-")}"
  alarm_description   = "The p95 latency of the standard query ${each.key} exceeded the ${var.latency_p95_slo_ms} ms SLO in a pipeline run's latency report."
  namespace           = local.namespace
  metric_name         = "QueryLatencyP95"
  dimensions          = merge(local.environment, { Query = each.key })
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.latency_p95_slo_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# --- No successful run in N (8) days ------------------------------------------------------
# A metric alarm cannot span 8 days (PutMetricAlarm: Period x EvaluationPeriods <= 604,800 s
# for periods of an hour or more), and metric math in an alarm only sees the data of that
# evaluation range, so neither RunSucceeded directly nor an expression over it can say "8 days";
# with a weekly cron any window <= 7 days is also empty just before each run. An hourly Lambda
# sums RunSucceeded (the EMF metric, dimension Environment) over the last N days with
# GetMetricData, which has no such limit, and publishes the sum as SuccessfulRunsLookback; the
# alarm fires when two consecutive hourly values are < 1 or missing (missing = breaching: a
# check that stopped reporting is an alarm too).

# The function's zip is built outside Terraform (only the AWS provider is needed): run
# `make lambda-zip` (infra/build-lambda-zip.py, reproducible: same source, same bytes, same hash)
# before plan/apply. Plan stops with the command to run when the zip is missing.
locals {
  lambda_zip = "${path.module}/.build/last_success.zip"
}

resource "aws_cloudwatch_log_group" "last_success" {
  #checkov:skip=CKV_AWS_338:Logs of an hourly one-line check; 90 days is enough for troubleshooting
  name              = "/aws/lambda/${var.name}-last-success-check"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "last_success" {
  name               = "${var.name}-last-success-check"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "last_success_vpc" {
  role       = aws_iam_role.last_success.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

data "aws_iam_policy_document" "last_success" {
  statement {
    sid = "ReadRunMetric"
    # GetMetricData has no resource-level permissions (and no namespace condition key).
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.last_success.arn}:*"]
  }

  statement {
    sid = "PublishMetric"
    # PutMetricData has no resource-level permissions; restricted to the namespace.
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.namespace]
    }
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "DeadLetterToTopic"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
  }
}

resource "aws_iam_role_policy" "last_success" {
  name   = "last-success-check"
  role   = aws_iam_role.last_success.id
  policy = data.aws_iam_policy_document.last_success.json
}

resource "aws_lambda_function" "last_success" {
  #checkov:skip=CKV_AWS_272:The function is a 40-line file zipped from this repository by infra/build-lambda-zip.py; there is no signing profile/pipeline for it
  function_name                  = "${var.name}-last-success-check"
  role                           = aws_iam_role.last_success.arn
  runtime                        = "python3.12"
  handler                        = "last_success.handler"
  filename                       = local.lambda_zip
  source_code_hash               = fileexists(local.lambda_zip) ? filebase64sha256(local.lambda_zip) : null
  timeout                        = 60
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = {
      LOOKBACK_DAYS    = tostring(var.success_lookback_days)
      METRIC_NAMESPACE = local.namespace
      ENVIRONMENT      = var.environment
      SOURCE_METRIC    = "RunSucceeded"
      METRIC_NAME      = "SuccessfulRunsLookback"
    }
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sns_topic.alarms.arn
  }

  depends_on = [aws_cloudwatch_log_group.last_success]

  lifecycle {
    precondition {
      condition     = fileexists(local.lambda_zip)
      error_message = "The check's zip ${local.lambda_zip} is missing: run `make lambda-zip` (or python3 infra/build-lambda-zip.py) first."
    }
  }
}

resource "aws_cloudwatch_event_rule" "daily" {
  name                = "${var.name}-last-success-check"
  description         = "Hourly check that a pipeline run succeeded within the lookback window"
  schedule_expression = "rate(1 hour)"
}

resource "aws_cloudwatch_event_target" "daily" {
  rule      = aws_cloudwatch_event_rule.daily.name
  target_id = "last-success-check"
  arn       = aws_lambda_function.last_success.arn
}

resource "aws_lambda_permission" "daily" {
  statement_id   = "AllowEventBridgeHourly"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.last_success.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.daily.arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_cloudwatch_metric_alarm" "no_success" {
  alarm_name          = "${var.name}-no-successful-run-${var.success_lookback_days}d"
  alarm_description   = "No forecast pipeline run succeeded (RunSucceeded) in the last ${var.success_lookback_days} days (or the hourly check stopped reporting)."
  namespace           = local.namespace
  metric_name         = "SuccessfulRunsLookback"
  dimensions          = local.environment
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# --- Worker dead-letter queue ------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${var.name}-worker-dlq-not-empty"
  alarm_description   = "ECS task events the Prefect worker could not process landed in the DLQ."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.dlq_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
