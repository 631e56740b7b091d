data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  write_zones = ["raw", "processed", "rejected", "reports"]
  # Zones the flows may overwrite/delete in (raw keeps every input exactly once).
  delete_zones = ["processed", "rejected", "reports"]
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- Flow-run task role ---------------------------------------------------------------

resource "aws_iam_role" "task" {
  name               = "${var.name}-flow-task"
  description        = "Role of the forecast flow-run containers"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = values(var.bucket_arns)
  }

  statement {
    sid       = "ReadLanding"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.bucket_arns["landing"]}/*"]
  }

  statement {
    sid = "ReadWriteLakeZones"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [for z in local.write_zones : "${var.bucket_arns[z]}/*"]
  }

  statement {
    sid       = "DeleteDerivedZones"
    actions   = ["s3:DeleteObject"]
    resources = [for z in local.delete_zones : "${var.bucket_arns[z]}/*"]
  }

  statement {
    sid       = "ReadPipelineSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.secret_arns
  }

  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.flow_log_group_arn}:*"]
  }

  statement {
    sid       = "UseDataKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.data_kms_key_arn, var.platform_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "flow-run"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# --- Execution role (flow runs and worker service) --------------------------------------

resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  description        = "ECS agent role: pull images, write logs, inject secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrAuthToken"
    # GetAuthorizationToken has no resource-level permissions.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arn]
  }

  # prefect-aws adds awslogs-create-group=true to the task definition: the agent calls
  # CreateLogGroup (the group exists; the call still needs the permission).
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [var.flow_log_group_arn, "${var.flow_log_group_arn}:*", "${var.worker_log_group_arn}:*"]
  }

  statement {
    sid       = "InjectSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat(var.secret_arns, var.worker_secret_arns)
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.platform_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "task-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# --- Prefect worker role ---------------------------------------------------------------

resource "aws_iam_role" "worker" {
  name               = "${var.name}-prefect-worker"
  description        = "Prefect ECS worker: launches and watches flow-run tasks"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid = "TaskDefinitions"
    # These actions do not support resource-level permissions (AWS service authorization reference).
    actions = [
      "ecs:RegisterTaskDefinition",
      "ecs:DeregisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecs:ListTaskDefinitions",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "RunFlowTasksOnCluster"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${var.task_definition_family_prefix}*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  statement {
    sid       = "TagFlowTasksAtLaunch"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.cluster_name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "WatchFlowTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.cluster_name}/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  statement {
    sid       = "PassFlowRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "StreamFlowLogs"
    actions   = ["logs:GetLogEvents"]
    resources = ["${var.flow_log_group_arn}:log-stream:*"]
  }

  statement {
    sid       = "WorkerOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.worker_log_group_arn}:*"]
  }

  statement {
    sid = "ConsumeTaskEvents"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [var.worker_queue_arn]
  }

  statement {
    sid       = "DecryptTaskEvents"
    actions   = ["kms:Decrypt"]
    resources = [var.platform_kms_key_arn]
  }

  statement {
    sid = "ResolveNetworkConfiguration"
    # prefect-aws validates the work pool's subnets/VPC; Describe* has no resource-level permissions.
    actions   = ["ec2:DescribeSubnets", "ec2:DescribeVpcs"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "prefect-ecs-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}
