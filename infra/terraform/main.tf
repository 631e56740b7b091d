data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name         = "${var.name_prefix}-${var.environment}"
  queue_name   = "${local.name}-ecs-task-events"
  queue_arn    = "arn:${data.aws_partition.current.partition}:sqs:${var.region}:${data.aws_caller_identity.current.account_id}:${local.queue_name}"
  worker_image = var.worker_image != "" ? var.worker_image : var.image_uri

  # The one switch: no prefect_api_url given = this stack runs its own Prefect server.
  prefect_server_enabled = var.prefect_api_url == ""
  prefect_api_url        = local.prefect_server_enabled ? module.prefect_server[0].api_url : var.prefect_api_url
  # Secrets the worker injects (PREFECT_API_KEY for Cloud, PREFECT_API_AUTH_STRING for our server).
  worker_secrets = concat(
    var.prefect_api_key_secret_arn == "" ? [] : [{ name = "PREFECT_API_KEY", arn = var.prefect_api_key_secret_arn }],
    local.prefect_server_enabled ? [{ name = "PREFECT_API_AUTH_STRING", arn = module.prefect_server[0].auth_string_secret_arn }] : [],
  )
}

module "kms" {
  source = "./modules/kms"
  name   = local.name
}

module "network" {
  source             = "./modules/network"
  name               = local.name
  create_vpc         = var.create_vpc
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  vpc_cidr           = var.vpc_cidr
  kms_key_arn        = module.kms.key_arn
  # The worker and flow runs reach the server's ALB: 443 is open already; plain HTTP (80) only
  # inside the VPC and only when the server has no certificate.
  allow_http_in_vpc = local.prefect_server_enabled && var.prefect_server_certificate_arn == ""
}

module "storage" {
  source = "./modules/storage"
  name   = local.name
}

module "ecs" {
  source             = "./modules/ecs"
  name               = local.name
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.flow_log_retention_days
}

module "secrets" {
  source      = "./modules/secrets"
  name        = local.name
  kms_key_arn = module.kms.key_arn
}

module "iam" {
  source               = "./modules/iam"
  name                 = local.name
  bucket_arns          = module.storage.bucket_arns
  data_kms_key_arn     = module.storage.kms_key_arn
  platform_kms_key_arn = module.kms.key_arn
  secret_arns          = [module.secrets.mongo_uri_secret_arn, module.secrets.infoclimat_token_secret_arn]
  worker_secret_arns   = [for secret in local.worker_secrets : secret.arn]
  flow_log_group_arn   = module.ecs.flow_log_group_arn
  worker_log_group_arn = module.ecs.worker_log_group_arn
  ecr_repository_arn   = module.ecs.ecr_repository_arn
  cluster_arn          = module.ecs.cluster_arn
  cluster_name         = module.ecs.cluster_name
  worker_queue_arn     = local.queue_arn
}

module "worker" {
  source             = "./modules/worker"
  name               = local.name
  queue_name         = local.queue_name
  queue_arn          = local.queue_arn
  cluster_name       = module.ecs.cluster_name
  cluster_arn        = module.ecs.cluster_arn
  kms_key_arn        = module.kms.key_arn
  image              = local.worker_image
  work_pool_name     = var.work_pool_name
  prefect_api_url    = local.prefect_api_url
  secrets            = local.worker_secrets
  task_role_arn      = module.iam.worker_role_arn
  execution_role_arn = module.iam.execution_role_arn
  log_group_name     = module.ecs.worker_log_group_name
  subnet_ids         = module.network.subnet_ids
  security_group_id  = module.network.task_security_group_id
  # false only in moto runs (var.moto_unsupported)
  create_redrive_allow_policy = !contains(var.moto_unsupported, "module.worker.aws_sqs_queue_redrive_allow_policy.dlq")
}

module "monitoring" {
  source            = "./modules/monitoring"
  name              = local.name
  kms_key_arn       = module.kms.key_arn
  alarm_email       = var.alarm_email
  environment       = var.environment
  dlq_name          = module.worker.dlq_name
  subnet_ids        = module.network.subnet_ids
  security_group_id = module.network.task_security_group_id

  rejection_rate_threshold_percent = var.rejection_rate_threshold_percent
  latency_p95_slo_ms               = var.latency_p95_slo_ms
}

# mongodb_mode = "atlas": not instantiated, only the URI secret is used.
module "mongodb" {
  source                   = "./modules/mongodb"
  count                    = var.mongodb_mode == "ecs" ? 1 : 0
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.subnet_ids
  client_security_group_id = module.network.task_security_group_id
  cluster_arn              = module.ecs.cluster_arn
  kms_key_arn              = module.kms.key_arn
  image                    = var.mongodb_image
  volume_size_gb           = var.mongodb_volume_size_gb
  # false only in moto runs (var.moto_unsupported)
  create_backup_selection = !contains(var.moto_unsupported, "module.mongodb[0].aws_backup_selection.volumes")
}

# Self-hosted Prefect server (ECS + RDS PostgreSQL + internal ALB), unless prefect_api_url is given.
module "prefect_server" {
  source                   = "./modules/prefect_server"
  count                    = local.prefect_server_enabled ? 1 : 0
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.subnet_ids
  cluster_arn              = module.ecs.cluster_arn
  kms_key_arn              = module.kms.key_arn
  client_security_group_id = module.network.task_security_group_id
  operator_cidrs           = var.prefect_server_operator_cidrs
  certificate_arn          = var.prefect_server_certificate_arn
  domain_name              = var.prefect_server_domain_name
  image                    = var.prefect_server_image
  db_instance_class        = var.prefect_server_db_instance_class
  db_multi_az              = var.prefect_server_db_multi_az
  deletion_protection      = var.prefect_server_deletion_protection != null ? var.prefect_server_deletion_protection : var.environment == "prod"
  final_snapshot           = var.environment == "prod"
  db_password_version      = var.prefect_server_db_password_version
  auth_string_version      = var.prefect_server_auth_string_version
  alarm_topic_arn          = module.monitoring.sns_topic_arn
  log_retention_days       = var.flow_log_retention_days
}
