output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "flow_log_group_name" {
  description = "Log group of the flow-run tasks."
  value       = aws_cloudwatch_log_group.flows.name
}

output "flow_log_group_arn" {
  description = "ARN of the flow-run log group."
  value       = aws_cloudwatch_log_group.flows.arn
}

output "worker_log_group_name" {
  description = "Log group of the worker service."
  value       = aws_cloudwatch_log_group.worker.name
}

output "worker_log_group_arn" {
  description = "ARN of the worker log group."
  value       = aws_cloudwatch_log_group.worker.arn
}

output "ecr_repository_url" {
  description = "ECR repository URL of the flow image."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_arn" {
  description = "ECR repository ARN."
  value       = aws_ecr_repository.this.arn
}
