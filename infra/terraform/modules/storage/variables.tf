variable "name" {
  description = "Name prefix (<prefix>-<environment>); bucket names are <name>-<zone>-<account id>."
  type        = string
}

variable "noncurrent_expiration_days" {
  description = "Days after which noncurrent versions are expired in processed/rejected/reports."
  type        = number
  default     = 90
}

variable "landing_expiration_days" {
  description = "Days after which landing objects expire."
  type        = number
  default     = 30
}

variable "raw_glacier_ir_days" {
  description = "Days after which raw objects move to GLACIER_IR."
  type        = number
  default     = 90
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}
