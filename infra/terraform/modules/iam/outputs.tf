output "task_role_arn" {
  description = "Flow-run task role ARN (work pool task_role_arn)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Task execution role ARN (work pool execution_role_arn; also the worker service's)."
  value       = aws_iam_role.execution.arn
}

output "worker_role_arn" {
  description = "Prefect worker task role ARN."
  value       = aws_iam_role.worker.arn
}
