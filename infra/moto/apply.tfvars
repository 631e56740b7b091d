# `terraform apply` against a moto server (tests/infra/apply_against_moto.py, `make infra-apply`).
# Only what the read-back needs besides the defaults, and the resources moto 5.2.5 cannot create.

# The flow image the worker service runs (empty by default: the ECR repository is created by
# this stack, the image pushed afterwards).
image_uri = "123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod-flows:moto"

# The Prefect server's ALB admits one operators' range besides the tasks (none by default).
prefect_server_operator_cidrs = ["192.168.10.0/24"]

moto_unsupported = [
  # moto stores RedriveAllowPolicy (SetQueueAttributes) but never returns it from
  # GetQueueAttributes, and the provider waits for it: the apply hangs. The queue's own
  # redrive_allow_policy argument hangs the same way (tried). The policy is asserted in the plan.
  "module.worker.aws_sqs_queue_redrive_allow_policy.dlq",
  # moto has no CreateBackupSelection (its backup backend knows plans and vaults only): the
  # provider retries until it times out. The selection is asserted in the plan.
  "module.mongodb[0].aws_backup_selection.volumes",
]
