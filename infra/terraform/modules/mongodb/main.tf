data "aws_region" "current" {}

locals {
  members    = { for i in range(var.members) : "mongo-${i}" => i }
  backup_tag = "${var.name}-mongodb"
}

# --- Secrets (values set out of band, see README.md) -------------------------------------

resource "aws_secretsmanager_secret" "keyfile" {
  #checkov:skip=CKV2_AWS_57:Rotating the internal replica-set keyfile requires a rolling restart of all members (documented procedure), not a rotation Lambda
  name                    = "${var.name}/mongodb-keyfile"
  description             = "Replica set internal authentication keyfile (openssl rand -base64 756)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

# --- Network -----------------------------------------------------------------------

resource "aws_security_group" "mongo" {
  name        = "${var.name}-mongodb"
  description = "MongoDB replica set members"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-mongodb" }
}

resource "aws_vpc_security_group_ingress_rule" "from_clients" {
  security_group_id            = aws_security_group.mongo.id
  description                  = "MongoDB from the forecast flow-run tasks"
  referenced_security_group_id = var.client_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 27017
  to_port                      = 27017
}

resource "aws_vpc_security_group_ingress_rule" "from_members" {
  security_group_id            = aws_security_group.mongo.id
  description                  = "Replication between members"
  referenced_security_group_id = aws_security_group.mongo.id
  ip_protocol                  = "tcp"
  from_port                    = 27017
  to_port                      = 27017
}

resource "aws_vpc_security_group_egress_rule" "to_members" {
  security_group_id            = aws_security_group.mongo.id
  description                  = "Replication between members"
  referenced_security_group_id = aws_security_group.mongo.id
  ip_protocol                  = "tcp"
  from_port                    = 27017
  to_port                      = 27017
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.mongo.id
  description       = "HTTPS: image pull, CloudWatch Logs, Secrets Manager"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "dns" {
  security_group_id = aws_security_group.mongo.id
  description       = "DNS to the VPC resolver (Cloud Map member names)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "udp"
  from_port         = 53
  to_port           = 53
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.namespace
  description = "Forecast private names (MongoDB members)"
  vpc         = var.vpc_id
}

resource "aws_service_discovery_service" "member" {
  for_each = local.members
  name     = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

# --- IAM -----------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-mongodb-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.mongo.arn}:*"]
  }

  statement {
    sid       = "InjectKeyfile"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.keyfile.arn]
  }

  statement {
    sid       = "DecryptKeyfile"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "mongodb-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-mongodb-task"
  description        = "MongoDB member task role (no AWS API access needed)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# ECS infrastructure role that creates/attaches the managed EBS volumes.
data "aws_iam_policy_document" "ecs_infra_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs" {
  name               = "${var.name}-mongodb-ebs"
  assume_role_policy = data.aws_iam_policy_document.ecs_infra_assume.json
}

resource "aws_iam_role_policy_attachment" "ebs" {
  role       = aws_iam_role.ebs.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes"
}

data "aws_iam_policy_document" "ebs_kms" {
  statement {
    sid       = "UseVolumeKey"
    actions   = ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "ebs_kms" {
  name   = "ebs-kms"
  role   = aws_iam_role.ebs.id
  policy = data.aws_iam_policy_document.ebs_kms.json
}

# --- Members: one task definition + one service each ----------------------------------

resource "aws_cloudwatch_log_group" "mongo" {
  #checkov:skip=CKV_AWS_338:mongod logs are operational; 90 days matches the other forecast log groups
  name              = "/ecs/${var.name}/mongodb"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "member" {
  for_each                 = local.members
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name                = "data"
    configure_at_launch = true
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "mongod"
    image                  = var.image
    essential              = true
    readonlyRootFilesystem = true
    entryPoint             = ["sh", "-c"]
    command = [join(" && ", [
      "printf '%s' \"$MONGO_KEYFILE\" > /tmp/keyfile",
      "chmod 400 /tmp/keyfile",
      "exec mongod --replSet ${var.replica_set_name} --bind_ip_all --port 27017 --dbpath /data/db --keyFile /tmp/keyfile",
    ])]
    portMappings = [{ containerPort = 27017, protocol = "tcp" }]
    secrets      = [{ name = "MONGO_KEYFILE", valueFrom = aws_secretsmanager_secret.keyfile.arn }]
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data/db", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    healthCheck = {
      command     = ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]
      interval    = 30
      timeout     = 10
      retries     = 5
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.mongo.name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "member" {
  for_each         = local.members
  name             = "${var.name}-${each.key}"
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.member[each.key].arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Never two tasks of the same member at once.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  network_configuration {
    subnets          = [var.subnet_ids[each.value % length(var.subnet_ids)]]
    security_groups  = [aws_security_group.mongo.id]
    assign_public_ip = false
  }

  service_registries {
    registry_arn = aws_service_discovery_service.member[each.key].arn
  }

  volume_configuration {
    name = "data"

    managed_ebs_volume {
      role_arn         = aws_iam_role.ebs.arn
      encrypted        = true
      kms_key_id       = var.kms_key_arn
      size_in_gb       = var.volume_size_gb
      volume_type      = "gp3"
      file_system_type = "xfs"

      tag_specifications {
        resource_type  = "volume"
        propagate_tags = "SERVICE"
        tags = {
          Backup = local.backup_tag
          Member = each.key
        }
      }
    }
  }

  propagate_tags = "SERVICE"
}

# --- AWS Backup: daily EBS snapshots, 35 days ---------------------------------------------

resource "aws_backup_vault" "this" {
  name        = "${var.name}-mongodb"
  kms_key_arn = var.kms_key_arn
}

resource "aws_backup_plan" "this" {
  name = "${var.name}-mongodb-daily"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this.name
    schedule          = "cron(0 3 * * ? *)"

    lifecycle {
      delete_after = var.backup_retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-mongodb-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_backup_selection" "volumes" {
  count        = var.create_backup_selection ? 1 : 0
  name         = "${var.name}-mongodb-volumes"
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = ["arn:aws:ec2:*:*:volume/*"]

  selection_tag {
    type  = "STRINGEQUALS"
    key   = "Backup"
    value = local.backup_tag
  }
}
