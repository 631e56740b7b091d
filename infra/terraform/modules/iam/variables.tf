variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "bucket_arns" {
  description = "Bucket ARN per zone (landing, raw, processed, rejected, reports)."
  type        = map(string)
}

variable "data_kms_key_arn" {
  description = "CMK of the S3 buckets."
  type        = string
}

variable "platform_kms_key_arn" {
  description = "CMK of the secrets, logs and queues."
  type        = string
}

variable "secret_arns" {
  description = "Secrets the flow tasks read (MongoDB URI, InfoClimat token)."
  type        = list(string)
}

variable "worker_secret_arns" {
  description = "Extra secrets injected into the worker container (e.g. PREFECT_API_KEY); may be empty."
  type        = list(string)
  default     = []
}

variable "flow_log_group_arn" {
  description = "ARN of the flow-run log group."
  type        = string
}

variable "worker_log_group_arn" {
  description = "ARN of the worker log group."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository the execution role pulls from."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster the worker launches flow runs on."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "worker_queue_arn" {
  description = "SQS queue of ECS task state events consumed by the worker."
  type        = string
}

variable "task_definition_family_prefix" {
  description = "Family prefix of the task definitions the Prefect worker registers (prefect.yaml: forecast-pipeline, forecast-backfill)."
  type        = string
  default     = "forecast-"
}
