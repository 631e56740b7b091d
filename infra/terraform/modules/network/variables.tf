variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "create_vpc" {
  description = "Create the VPC (true) or use vpc_id / private_subnet_ids (false)."
  type        = bool
}

variable "vpc_id" {
  description = "Existing VPC id (create_vpc = false)."
  type        = string
  default     = ""
}

variable "private_subnet_ids" {
  description = "Existing private subnet ids (create_vpc = false)."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the created VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "kms_key_arn" {
  description = "CMK encrypting the flow-log log group."
  type        = string
}

variable "log_retention_days" {
  description = "Flow-log retention."
  type        = number
  default     = 90
}

variable "az_suffixes" {
  description = "The 2 availability zones used (suffixes appended to the region name)."
  type        = list(string)
  default     = ["a", "b"]
}

variable "allow_http_in_vpc" {
  description = "Egress on port 80 inside the VPC: the self-hosted Prefect server's internal ALB without a certificate."
  type        = bool
  default     = false
}
