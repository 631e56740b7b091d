data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  zones      = toset(["landing", "raw", "processed", "rejected", "reports"])
  buckets    = { for z in local.zones : z => "${var.name}-${z}-${local.account_id}" }
}

# --- Data key ----------------------------------------------------------------------

resource "aws_kms_key" "data" {
  description             = "${var.name} S3 data lake key"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      }
    ]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

# --- Access-log bucket ---------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:Access logs are audit convenience data; cross-region replication is not required
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to SSE-S3 (AES256) target buckets, SSE-KMS is not supported there
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the access-log bucket
  bucket = "${var.name}-s3-access-logs-${local.account_id}"
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}

    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid     = "S3ServerAccessLogsDelivery"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for b in local.buckets : "arn:${local.partition}:s3:::${b}"]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}

# --- Zone buckets ----------------------------------------------------------------------

resource "aws_s3_bucket" "zone" {
  #checkov:skip=CKV_AWS_144:Single-region deployment; every zone is re-creatable from the sources (raw is versioned and backs up the inputs), cross-region replication is not required
  #checkov:skip=CKV2_AWS_62:The pipeline is scheduled weekly by Prefect and lists the landing prefixes itself; no consumer of S3 event notifications exists
  for_each = local.buckets
  bucket   = each.value

  tags = { Zone = each.key }
}

resource "aws_s3_bucket_ownership_controls" "zone" {
  for_each = aws_s3_bucket.zone
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "zone" {
  for_each                = aws_s3_bucket.zone
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "zone" {
  for_each = aws_s3_bucket.zone
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "zone" {
  for_each = aws_s3_bucket.zone
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "zone" {
  for_each      = aws_s3_bucket.zone
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "${each.key}/"

  # PutBucketLogging checks that the target bucket lets the logging service write
  # (InvalidTargetBucketForLogging otherwise): the log bucket's policy must exist first.
  # Found by the apply against moto, which failed whenever the two were created in that order.
  depends_on = [aws_s3_bucket_policy.logs]
}

# landing: objects expire after 30 days.
# raw: keeps every input exactly once, current versions never expire; GLACIER_IR after 90 days.
# processed / rejected / reports: noncurrent versions expire after 90 days.
locals {
  lifecycle = {
    landing   = { expire_days = var.landing_expiration_days, glacier_ir_days = null, noncurrent_expire_days = var.landing_expiration_days }
    raw       = { expire_days = null, glacier_ir_days = var.raw_glacier_ir_days, noncurrent_expire_days = null }
    processed = { expire_days = null, glacier_ir_days = null, noncurrent_expire_days = var.noncurrent_expiration_days }
    rejected  = { expire_days = null, glacier_ir_days = null, noncurrent_expire_days = var.noncurrent_expiration_days }
    reports   = { expire_days = null, glacier_ir_days = null, noncurrent_expire_days = var.noncurrent_expiration_days }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "zone" {
  for_each = aws_s3_bucket.zone
  bucket   = each.value.id

  rule {
    id     = "${each.key}-lifecycle"
    status = "Enabled"
    filter {}

    dynamic "expiration" {
      for_each = local.lifecycle[each.key].expire_days == null ? [] : [local.lifecycle[each.key].expire_days]
      content {
        days = expiration.value
      }
    }

    dynamic "transition" {
      for_each = local.lifecycle[each.key].glacier_ir_days == null ? [] : [local.lifecycle[each.key].glacier_ir_days]
      content {
        days          = transition.value
        storage_class = "GLACIER_IR"
      }
    }

    dynamic "noncurrent_version_transition" {
      for_each = local.lifecycle[each.key].glacier_ir_days == null ? [] : [local.lifecycle[each.key].glacier_ir_days]
      content {
        noncurrent_days = noncurrent_version_transition.value
        storage_class   = "GLACIER_IR"
      }
    }

    dynamic "noncurrent_version_expiration" {
      for_each = local.lifecycle[each.key].noncurrent_expire_days == null ? [] : [local.lifecycle[each.key].noncurrent_expire_days]
      content {
        noncurrent_days = noncurrent_version_expiration.value
      }
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.zone]
}

data "aws_iam_policy_document" "zone" {
  for_each = aws_s3_bucket.zone

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [each.value.arn, "${each.value.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "zone" {
  for_each = aws_s3_bucket.zone
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.zone[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.zone]
}
