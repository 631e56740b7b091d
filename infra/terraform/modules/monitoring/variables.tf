variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK for the SNS topic, the Lambda environment and its log group."
  type        = string
}

variable "alarm_email" {
  description = "E-mail subscribed to the topic; empty = none."
  type        = string
  default     = ""
}

variable "flow_log_group_name" {
  description = "Flow-run log group."
  type        = string
}

variable "flow_log_group_arn" {
  description = "ARN of the flow-run log group."
  type        = string
}

variable "dlq_name" {
  description = "Worker dead-letter queue name."
  type        = string
}

variable "success_lookback_days" {
  description = "Alarm when no flow run finished Completed within this many days."
  type        = number
  default     = 8
}

variable "subnet_ids" {
  description = "Private subnets for the check Lambda."
  type        = list(string)
}

variable "security_group_id" {
  description = "Egress-only security group for the check Lambda."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the Lambda log group."
  type        = number
  default     = 90
}
