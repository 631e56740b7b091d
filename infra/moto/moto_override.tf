# Moto runs only (tests/infra). Copied into a temporary copy of infra/terraform, never into
# infra/terraform itself: the production provider and backend are unchanged. It points every AWS
# service the stack uses at one moto server on loopback and keeps the state in a local file.
# Credentials are dummy values from the environment (AWS_ACCESS_KEY_ID=test ...), never here.
terraform {
  backend "local" {}
}

provider "aws" {
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    backup           = var.moto_endpoint
    cloudwatch       = var.moto_endpoint
    cloudwatchlogs   = var.moto_endpoint
    ec2              = var.moto_endpoint
    ecr              = var.moto_endpoint
    ecs              = var.moto_endpoint
    elbv2            = var.moto_endpoint
    eventbridge      = var.moto_endpoint
    iam              = var.moto_endpoint
    kms              = var.moto_endpoint
    lambda           = var.moto_endpoint
    rds              = var.moto_endpoint
    s3               = var.moto_endpoint
    secretsmanager   = var.moto_endpoint
    servicediscovery = var.moto_endpoint
    sns              = var.moto_endpoint
    sqs              = var.moto_endpoint
    sts              = var.moto_endpoint
  }
}
