output "member_hosts" {
  description = "Replica set member host names."
  value       = [for m in keys(local.members) : "${m}.${var.namespace}:27017"]
}

output "security_group_id" {
  description = "Security group of the members."
  value       = aws_security_group.mongo.id
}

output "keyfile_secret_arn" {
  description = "Secret holding the replica set keyfile."
  value       = aws_secretsmanager_secret.keyfile.arn
}
