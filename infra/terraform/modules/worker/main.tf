data "aws_region" "current" {}

# --- ECS task state events -> SQS (prefect-aws ECS worker task observer) -----------------

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.queue_name}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "events" {
  name                       = var.queue_name
  kms_master_key_id          = var.kms_key_arn
  message_retention_seconds  = 86400
  visibility_timeout_seconds = 30

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count     = var.create_redrive_allow_policy ? 1 : 0
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [var.queue_arn] # = aws_sqs_queue.events.arn, known at plan time
  })

  depends_on = [aws_sqs_queue.events]
}

resource "aws_cloudwatch_event_rule" "task_state" {
  name        = "${var.name}-ecs-task-state"
  description = "ECS Task State Change events of the forecast cluster, for the Prefect worker observer"

  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.cluster_arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.task_state.name
  target_id = "prefect-worker-queue"
  arn       = aws_sqs_queue.events.arn
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "AllowEventBridgeRule"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_state.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}

# --- Worker service ---------------------------------------------------------------------------

locals {
  worker_secrets = [for secret in var.secrets : { name = secret.name, valueFrom = secret.arn }]
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-prefect-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = var.task_role_arn
  execution_role_arn       = var.execution_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Writable scratch space: the root filesystem is read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "prefect-worker"
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    command                = ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", "ecs"]
    environment = [
      { name = "PREFECT_API_URL", value = var.prefect_api_url },
      { name = "PREFECT_HOME", value = "/tmp/prefect" },
      { name = "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME", value = aws_sqs_queue.events.name },
      { name = "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION", value = data.aws_region.current.name },
      { name = "AWS_DEFAULT_REGION", value = data.aws_region.current.name },
    ]
    secrets     = local.worker_secrets
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = var.log_group_name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = "worker"
      }
    }
  }])
}

resource "aws_ecs_service" "worker" {
  name             = "${var.name}-prefect-worker"
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # A single poller: never run two workers during a deployment.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }
}
