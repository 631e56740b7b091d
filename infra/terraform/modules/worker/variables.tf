variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "queue_name" {
  description = "Name of the ECS task-events queue (computed by the root so that IAM can reference it)."
  type        = string
}

variable "queue_arn" {
  description = "ARN of that queue (computed by the root from the name, like queue_name)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK encrypting the queues."
  type        = string
}

variable "image" {
  description = "Worker image (prefecthq/prefect-aws:<tag> or the project image, which has prefect-aws installed)."
  type        = string
}

variable "work_pool_name" {
  description = "Prefect ECS work pool polled by the worker."
  type        = string
}

variable "prefect_api_url" {
  description = "PREFECT_API_URL."
  type        = string
}

variable "secrets" {
  description = "Environment variables injected from Secrets Manager: PREFECT_API_KEY (Prefect Cloud) or PREFECT_API_AUTH_STRING (the self-hosted server). May be empty."
  type        = list(object({ name = string, arn = string }))
  default     = []
}

variable "task_role_arn" {
  description = "Worker task role (RunTask, PassRole, SQS...)."
  type        = string
}

variable "execution_role_arn" {
  description = "Execution role (logs, secret injection)."
  type        = string
}

variable "log_group_name" {
  description = "Worker log group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets."
  type        = list(string)
}

variable "security_group_id" {
  description = "Egress-only task security group."
  type        = string
}

variable "cpu" {
  description = "Worker task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Worker task memory (MiB)."
  type        = number
  default     = 1024
}

variable "create_redrive_allow_policy" {
  description = "Only the events queue may use the DLQ. false only in moto runs (moto never returns RedriveAllowPolicy)."
  type        = bool
  default     = true
}
