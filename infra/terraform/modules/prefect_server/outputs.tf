output "api_url" {
  description = "PREFECT_API_URL of the clients (worker, flow runs, operators): the ALB (or domain_name) + /api."
  value       = local.api_url
}

output "auth_string_secret_arn" {
  description = "Secret holding the API auth string admin:<password> (clients: PREFECT_API_AUTH_STRING)."
  value       = aws_secretsmanager_secret.auth_string.arn
}

output "db_password_secret_arn" {
  description = "Secret holding the database password (the server's PREFECT_SERVER_DATABASE_PASSWORD)."
  value       = aws_secretsmanager_secret.db_password.arn
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB (target of the record for domain_name)."
  value       = aws_lb.this.dns_name
}

output "db_endpoint" {
  description = "host:port of the PostgreSQL instance."
  value       = aws_db_instance.this.endpoint
}

output "service_name" {
  description = "ECS service of the server."
  value       = aws_ecs_service.server.name
}
