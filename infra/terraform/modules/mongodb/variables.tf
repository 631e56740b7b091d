variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (members are spread across them)."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "Security group of the flow-run tasks allowed to reach 27017."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK for EBS volumes, secrets, logs and the backup vault."
  type        = string
}

variable "image" {
  description = "MongoDB image (pin a version)."
  type        = string
  default     = "mongo:7.0"
}

variable "members" {
  description = "Number of replica set members."
  type        = number
  default     = 3
}

variable "namespace" {
  description = "Cloud Map private DNS namespace; members are mongo-<i>.<namespace>."
  type        = string
  default     = "forecast.local"
}

variable "replica_set_name" {
  description = "Replica set name."
  type        = string
  default     = "rs0"
}

variable "volume_size_gb" {
  description = "EBS gp3 size per member."
  type        = number
  default     = 50
}

variable "cpu" {
  description = "CPU units per member."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Memory (MiB) per member."
  type        = number
  default     = 4096
}

variable "backup_retention_days" {
  description = "Retention of the daily EBS backups."
  type        = number
  default     = 35
}

variable "log_retention_days" {
  description = "Retention of the mongod log group."
  type        = number
  default     = 90
}

variable "create_backup_selection" {
  description = "Select the member volumes for the daily backup. false only in moto runs (moto has no backup selection API)."
  type        = bool
  default     = true
}
