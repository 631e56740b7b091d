output "vpc_id" {
  description = "VPC id (created or existing)."
  value       = local.vpc_id
}

output "vpc_cidr" {
  description = "VPC CIDR."
  value       = local.vpc_cidr
}

output "subnet_ids" {
  description = "Private subnet ids the tasks run in."
  value       = local.subnet_ids
}

output "task_security_group_id" {
  description = "Security group of the flow-run and worker tasks (egress only)."
  value       = aws_security_group.tasks.id
}
