output "bucket_names" {
  description = "Bucket name per zone (landing, raw, processed, rejected, reports)."
  value       = { for z, b in aws_s3_bucket.zone : z => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARN per zone."
  value       = { for z, b in aws_s3_bucket.zone : z => b.arn }
}

output "kms_key_arn" {
  description = "CMK encrypting the zone buckets."
  value       = aws_kms_key.data.arn
}

output "access_log_bucket_name" {
  description = "S3 server access log bucket."
  value       = aws_s3_bucket.logs.bucket
}
