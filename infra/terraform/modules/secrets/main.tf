# Secret containers only: the values are never in Terraform code or state.
# After apply:
#   aws secretsmanager put-secret-value --secret-id <mongo_uri_secret_arn> --secret-string 'mongodb://...'
#   aws secretsmanager put-secret-value --secret-id <infoclimat_token_secret_arn> --secret-string '<token>'

resource "aws_secretsmanager_secret" "mongo_uri" {
  #checkov:skip=CKV2_AWS_57:The URI embeds credentials owned by the MongoDB admin (replica set users or Atlas database users); rotation is a manual, documented procedure (put-secret-value + ECS service redeploy), no rotation Lambda exists for this format
  name                    = "${var.name}/mongodb-uri"
  description             = "MongoDB connection URI used by the forecast flows (value set out of band)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "infoclimat_token" {
  #checkov:skip=CKV2_AWS_57:The InfoClimat API token is issued manually by infoclimat.fr through its web portal; there is no API to rotate it automatically
  name                    = "${var.name}/infoclimat-token"
  description             = "InfoClimat API token used by the ingest flow (value set out of band)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}
