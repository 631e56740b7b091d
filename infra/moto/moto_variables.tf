# Moto runs only: copied with moto_override.tf (an override file cannot declare a variable).
variable "moto_endpoint" {
  description = "URL of the moto server every AWS endpoint points at, e.g. http://127.0.0.1:5000."
  type        = string
}
