output "ecs_cluster_name" {
  description = "ECS cluster name (work pool: cluster)."
  value       = module.ecs.cluster_name
}

output "ecs_cluster_arn" {
  description = "ECS cluster ARN."
  value       = module.ecs.cluster_arn
}

output "work_pool_name" {
  description = "Prefect ECS work pool the worker polls (prefect.yaml work_pool.name)."
  value       = var.work_pool_name
}

output "task_role_arn" {
  description = "Flow-run task role ARN (work pool task_role_arn)."
  value       = module.iam.task_role_arn
}

output "execution_role_arn" {
  description = "Task execution role ARN (work pool execution_role_arn)."
  value       = module.iam.execution_role_arn
}

output "bucket_names" {
  description = "Bucket per zone: landing, raw, processed, rejected, reports."
  value       = module.storage.bucket_names
}

output "log_group_name" {
  description = "Flow-run log group (work pool cloudwatch_logs_options awslogs-group)."
  value       = module.ecs.flow_log_group_name
}

output "ecr_repository_url" {
  description = "ECR repository of the flow image."
  value       = module.ecs.ecr_repository_url
}

output "mongo_uri_secret_arn" {
  description = "Secrets Manager ARN of the MongoDB URI (value set out of band)."
  value       = module.secrets.mongo_uri_secret_arn
}

output "infoclimat_token_secret_arn" {
  description = "Secrets Manager ARN of the InfoClimat token (value set out of band)."
  value       = module.secrets.infoclimat_token_secret_arn
}

output "security_group_id" {
  description = "Egress-only security group of the flow-run tasks."
  value       = module.network.task_security_group_id
}

output "subnet_ids" {
  description = "Private subnets of the flow-run tasks."
  value       = module.network.subnet_ids
}

output "sqs_queue_url" {
  description = "ECS task-events queue consumed by the worker observer."
  value       = module.worker.queue_url
}

output "sns_topic_arn" {
  description = "Alarm topic ARN."
  value       = module.monitoring.sns_topic_arn
}

output "mongodb_hosts" {
  description = "Replica set members (empty with mongodb_mode = atlas)."
  value       = var.mongodb_mode == "ecs" ? module.mongodb[0].member_hosts : []
}

output "vpc_id" {
  description = "VPC of the flow-run tasks (work pool: vpc_id)."
  value       = module.network.vpc_id
}

output "environment" {
  description = "Environment name: the Environment dimension of the pipeline's metrics, which the alarms read (prefect.yaml FORECAST_ENVIRONMENT)."
  value       = var.environment
}

output "metric_namespace" {
  description = "CloudWatch namespace of the pipeline's EMF metrics (the flows' default FORECAST_METRIC_NAMESPACE)."
  value       = module.monitoring.metric_namespace
}

output "prefect_api_url" {
  description = "PREFECT_API_URL of the worker and flow runs: this stack's server (prefect_api_url empty) or the given one."
  value       = local.prefect_api_url
}

output "prefect_api_auth_string_secret_arn" {
  description = "Secret of the self-hosted server's API auth string (prefect.yaml FORECAST_PREFECT_AUTH_STRING_SECRET_ARN, job variable prefect_api_auth_string_secret_arn); empty with an external prefect_api_url."
  value       = local.prefect_server_enabled ? module.prefect_server[0].auth_string_secret_arn : ""
}

output "prefect_server_alb_dns_name" {
  description = "Internal ALB of the self-hosted Prefect server (empty with an external prefect_api_url)."
  value       = local.prefect_server_enabled ? module.prefect_server[0].alb_dns_name : ""
}
