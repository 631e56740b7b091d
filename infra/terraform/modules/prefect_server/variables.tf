variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (2 AZs): the internal ALB, the server tasks and the database."
  type        = list(string)
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "Platform CMK: the database storage and Performance Insights, the secrets, the log groups."
  type        = string
}

variable "client_security_group_id" {
  description = "Security group of the Prefect worker and the flow-run tasks, allowed to reach the ALB."
  type        = string
}

variable "operator_cidrs" {
  description = "CIDRs of the operators (VPN, bastion subnet) allowed to reach the ALB: UI and API. Empty = only the worker and the flow runs."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate of the ALB's HTTPS listener (443). Empty = an HTTP listener on 80: the API auth string crosses the VPC in clear text."
  type        = string
  default     = ""
}

variable "domain_name" {
  description = "DNS name the certificate covers and that points at the ALB (record made outside this stack). Empty = the ALB's own DNS name (HTTP only)."
  type        = string
  default     = ""
}

variable "image" {
  description = "Prefect server image (prefect 3.8.8, the clients' version). Pin a tag; tags are not verified here."
  type        = string
}

variable "cpu" {
  description = "Server task CPU units (API, UI and background services in one task)."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Server task memory (MiB)."
  type        = number
  default     = 2048
}

variable "db_instance_class" {
  description = "RDS instance class of the Prefect database."
  type        = string
  default     = "db.t4g.small"
}

variable "db_engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded by RDS). Prefect needs >= 14.9 to run more than one API task."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database (storage autoscaling up to db_max_allocated_storage_gb)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Standby replica in the other AZ."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Automated backups (point-in-time restore) kept this many days."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 7
    error_message = "Keep at least 7 days of automated backups."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the database and the ALB."
  type        = bool
}

variable "final_snapshot" {
  description = "Take a final snapshot when the database is deleted."
  type        = bool
}

variable "db_password_version" {
  description = "Bump to generate a new database password (RDS and its secret, one apply); then redeploy the server service."
  type        = number
  default     = 1
}

variable "auth_string_version" {
  description = "Bump to generate a new API auth string; then redeploy the server and the worker services."
  type        = number
  default     = 1
}

variable "alarm_topic_arn" {
  description = "SNS topic of the \"no healthy Prefect server\" alarm."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the server's and the database's log groups."
  type        = number
  default     = 90
}
