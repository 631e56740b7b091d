output "sns_topic_arn" {
  description = "Alarm topic ARN."
  value       = aws_sns_topic.alarms.arn
}

output "metric_namespace" {
  description = "Namespace of the pipeline's EMF metrics that the alarms read."
  value       = local.namespace
}
