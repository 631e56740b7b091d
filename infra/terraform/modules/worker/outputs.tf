output "queue_url" {
  description = "URL of the ECS task-events queue."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "ARN of the ECS task-events queue."
  value       = aws_sqs_queue.events.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "service_name" {
  description = "Worker ECS service name."
  value       = aws_ecs_service.worker.name
}
