variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-3"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "forecast"
}

variable "environment" {
  description = "Environment name (dev, staging, prod); appended to resource names."
  type        = string
  default     = "prod"
}

# --- network -----------------------------------------------------------------

variable "create_vpc" {
  description = "Create a VPC with private subnets in 2 AZs, NAT and VPC endpoints. When false, vpc_id and private_subnet_ids must be set."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "Existing VPC id (used only when create_vpc = false)."
  type        = string
  default     = ""
}

variable "private_subnet_ids" {
  description = "Existing private subnet ids, at least 2 AZs (used only when create_vpc = false)."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when create_vpc = true."
  type        = string
  default     = "10.42.0.0/16"
}

# --- workload ----------------------------------------------------------------

variable "image_uri" {
  description = "Flow-run image (the project's Dockerfile) pushed to the ECR repository, e.g. <account>.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod:1.0.0. Used by the worker service only when worker_image is empty; the work pool's base job template references it."
  type        = string
  default     = ""
}

variable "worker_image" {
  description = "Image of the Prefect ECS worker service. Empty = image_uri. Pin a tag, e.g. prefecthq/prefect-aws:0.5.x-python3.12 (tags are not verified here)."
  type        = string
  default     = ""
}

variable "prefect_api_url" {
  description = "URL of an existing Prefect API (Prefect Cloud, or a server run elsewhere), e.g. https://prefect.internal.example.com/api. Empty (the default) = this stack runs its own server (modules/prefect_server) and the worker and flow runs use it."
  type        = string
  default     = ""
}

variable "prefect_api_key_secret_arn" {
  description = "ARN of a Secrets Manager secret holding PREFECT_API_KEY (Prefect Cloud, with prefect_api_url). Empty for a self-hosted server: this stack's own server authenticates with the auth string of modules/prefect_server."
  type        = string
  default     = ""
}

variable "work_pool_name" {
  description = "Prefect ECS work pool name (prefect.yaml work_pool.name)."
  type        = string
  default     = "forecast-ecs"
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirmation required). Empty = no subscription."
  type        = string
  default     = ""
}

variable "flow_log_retention_days" {
  description = "Retention of the flow-run and worker log groups."
  type        = number
  default     = 90
}

# --- MongoDB -----------------------------------------------------------------

variable "mongodb_mode" {
  description = "\"ecs\" = 3-node replica set on ECS Fargate (modules/mongodb); \"atlas\" = MongoDB Atlas, only the URI secret is used."
  type        = string
  default     = "ecs"

  validation {
    condition     = contains(["ecs", "atlas"], var.mongodb_mode)
    error_message = "mongodb_mode must be \"ecs\" or \"atlas\"."
  }
}

variable "mongodb_image" {
  description = "MongoDB image for the replica set members (pin a version)."
  type        = string
  default     = "mongo:7.0"
}

variable "mongodb_volume_size_gb" {
  description = "EBS volume size of each replica set member."
  type        = number
  default     = 50
}

# --- self-hosted Prefect server (modules/prefect_server; only when prefect_api_url = "") ---

variable "prefect_server_operator_cidrs" {
  description = "CIDRs of the operators (VPN, bastion) allowed to reach the Prefect server's internal ALB (UI and API). Empty = only the worker and the flow runs reach it."
  type        = list(string)
  default     = []
}

variable "prefect_server_certificate_arn" {
  description = "ACM certificate ARN for the ALB's HTTPS listener (443). Empty = HTTP on 80: the API auth string then crosses the VPC unencrypted (see README.md)."
  type        = string
  default     = ""
}

variable "prefect_server_domain_name" {
  description = "DNS name the certificate covers, pointed at the ALB outside this stack (required with a certificate). Empty = the ALB's own DNS name."
  type        = string
  default     = ""
}

variable "prefect_server_image" {
  description = "Prefect server image; the server runs the clients' Prefect version (3.8.8). Tags are not verified here."
  type        = string
  default     = "prefecthq/prefect:3.8.8-python3.11"
}

variable "prefect_server_db_instance_class" {
  description = "RDS instance class of the Prefect server's PostgreSQL."
  type        = string
  default     = "db.t4g.small"
}

variable "prefect_server_db_multi_az" {
  description = "Multi-AZ standby for the Prefect server's PostgreSQL."
  type        = bool
  default     = false
}

variable "prefect_server_deletion_protection" {
  description = "Deletion protection of the Prefect database and ALB. null (default) = on when environment is \"prod\". Set false and apply before destroying a prod stack."
  type        = bool
  default     = null
}

variable "prefect_server_db_password_version" {
  description = "Bump to rotate the Prefect database password (RDS and its secret in one apply); then redeploy the server service."
  type        = number
  default     = 1
}

variable "prefect_server_auth_string_version" {
  description = "Bump to rotate the Prefect API auth string; then redeploy the server and worker services (flow runs read it at start)."
  type        = number
  default     = 1
}

# --- alarms on the pipeline's metrics (modules/monitoring) -------------------

variable "rejection_rate_threshold_percent" {
  description = "Alarm when a pipeline run rejects more than this percentage of its in-window records (metric RejectionRate)."
  type        = number
  default     = 5
}

variable "latency_p95_slo_ms" {
  description = "SLO of each standard query's p95 latency in a run's latency report, in milliseconds (metric QueryLatencyP95)."
  type        = number
  default     = 500
}

# --- tests against moto only -------------------------------------------------

variable "moto_unsupported" {
  description = "Runs against a moto server only (infra/moto/apply.tfvars): resources moto 5.2.5 cannot create, left out by address. Always empty against AWS."
  type        = set(string)
  default     = []

  validation {
    condition = alltrue([for address in var.moto_unsupported : contains([
      "module.worker.aws_sqs_queue_redrive_allow_policy.dlq",
      "module.mongodb[0].aws_backup_selection.volumes",
    ], address)])
    error_message = "moto_unsupported lists only module.worker.aws_sqs_queue_redrive_allow_policy.dlq and module.mongodb[0].aws_backup_selection.volumes (see infra/moto/apply.tfvars)."
  }
}
