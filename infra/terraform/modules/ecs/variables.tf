variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK for log groups, ECR and ECS Exec sessions."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the flow-run and worker log groups."
  type        = number
  default     = 90
}

variable "ecr_keep_last" {
  description = "Number of images kept in the ECR repository."
  type        = number
  default     = 30
}
