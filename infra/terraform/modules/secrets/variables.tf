variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK encrypting the secrets."
  type        = string
}
