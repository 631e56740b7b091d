output "mongo_uri_secret_arn" {
  description = "ARN of the MongoDB URI secret."
  value       = aws_secretsmanager_secret.mongo_uri.arn
}

output "infoclimat_token_secret_arn" {
  description = "ARN of the InfoClimat token secret."
  value       = aws_secretsmanager_secret.infoclimat_token.arn
}
