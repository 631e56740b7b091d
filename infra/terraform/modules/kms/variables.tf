variable "name" {
  description = "Name prefix (<prefix>-<environment>)."
  type        = string
}
