output "key_arn" {
  description = "ARN of the platform CMK."
  value       = aws_kms_key.platform.arn
}

output "key_id" {
  description = "Id of the platform CMK."
  value       = aws_kms_key.platform.key_id
}
