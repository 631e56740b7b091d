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

variable "environment" {
  description = "The Environment dimension the pipeline's runs publish (prefect.yaml FORECAST_ENVIRONMENT)."
  type        = string
}

variable "metric_namespace" {
  description = "Namespace of the pipeline's EMF metrics (forecast/metrics.py NAMESPACE, FORECAST_METRIC_NAMESPACE)."
  type        = string
  default     = "Forecast/Pipeline"
}

variable "rejection_rate_threshold_percent" {
  description = "Alarm when a run rejects more than this percentage of its in-window records (RejectionRate)."
  type        = number
  default     = 5
}

variable "latency_p95_slo_ms" {
  description = "Alarm when a standard query's p95 latency (QueryLatencyP95) in a run exceeds this many milliseconds."
  type        = number
  default     = 500
}

variable "latency_queries" {
  description = "The standard queries of the latency report (forecast/mongo/latency.py), one p95 alarm each."
  type        = list(string)
  default     = ["station_day", "network_week", "near_point", "daily_means_month", "count_station"]
}

variable "dlq_name" {
  description = "Worker dead-letter queue name."
  type        = string
}

variable "success_lookback_days" {
  description = "Alarm when no pipeline run succeeded (RunSucceeded = 1) within this many days."
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
