terraform {
  # >= 1.11: write-only arguments (modules/prefect_server: password_wo, secret_string_wo), fed by
  # an ephemeral resource (1.10), keep the generated passwords out of the plan and the state.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is the version checked here (ECS managed EBS volumes need >= 5.37; the ephemeral
      # aws_secretsmanager_random_password and the *_wo arguments need a recent 5.x).
      version = "~> 5.100"
    }
  }

  # Remote state: pass a backend config at init time (see README.md), e.g.
  #   terraform init -backend-config=backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "forecast-2-0"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
