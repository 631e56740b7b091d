data "aws_caller_identity" "current" {}

locals {
  namespace = "Forecast/${var.name}"
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

# --- Failed flow runs ------------------------------------------------------------------------

resource "aws_cloudwatch_log_metric_filter" "failed" {
  name           = "${var.name}-flow-runs-failed"
  log_group_name = var.flow_log_group_name
  pattern        = "\"Finished in state Failed\""

  metric_transformation {
    name          = "FlowRunsFailed"
    namespace     = local.namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "failed" {
  alarm_name          = "${var.name}-flow-run-failed"
  alarm_description   = "A forecast flow run finished in state Failed."
  namespace           = local.namespace
  metric_name         = "FlowRunsFailed"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# --- Completed flow runs (metric kept for dashboards) -----------------------------------

resource "aws_cloudwatch_log_metric_filter" "completed" {
  name           = "${var.name}-flow-runs-completed"
  log_group_name = var.flow_log_group_name
  pattern        = "\"Finished in state Completed\""

  metric_transformation {
    name          = "FlowRunsCompleted"
    namespace     = local.namespace
    value         = "1"
    default_value = "0"
  }
}

# --- No successful run in N (8) days ------------------------------------------------------
# A metric alarm cannot span 8 days (PutMetricAlarm: Period x EvaluationPeriods <= 7 days),
# and with a weekly cron any window <= 7 days is empty just before each run. An hourly Lambda
# counts "Finished in state Completed" over the last N days and publishes the count; the
# alarm fires when two consecutive hourly values are < 1 or missing (missing = breaching).

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
    sid       = "SearchFlowLogs"
    actions   = ["logs:FilterLogEvents"]
    resources = ["${var.flow_log_group_arn}:*"]
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
      LOG_GROUP_NAME   = var.flow_log_group_name
      LOOKBACK_DAYS    = tostring(var.success_lookback_days)
      METRIC_NAMESPACE = local.namespace
      METRIC_NAME      = "CompletedRunsLookback"
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
  description         = "Hourly check that a flow run completed within the lookback window"
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
  alarm_description   = "No forecast flow run finished in state Completed in the last ${var.success_lookback_days} days (or the hourly check stopped reporting)."
  namespace           = local.namespace
  metric_name         = "CompletedRunsLookback"
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
