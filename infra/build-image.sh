#!/usr/bin/env bash
# Build the flow-run image and push it to ECR; print ONLY the image URI on stdout (prefect.yaml
# reads it as {{ image.stdout }}). Progress goes to stderr.
#
#   FORECAST_IMAGE=<uri>            deploy an image that is already pushed: nothing is built
#   FORECAST_ECR_REPOSITORY=<url>   e.g. 123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod
#                                   (terraform output ecr_repository_url)
#   FORECAST_IMAGE_TAG=<tag>        default: the git commit (tags are immutable in ECR)
set -euo pipefail
if [[ -n "${FORECAST_IMAGE:-}" ]]; then
  echo "using the pushed image ${FORECAST_IMAGE}" >&2
  echo "${FORECAST_IMAGE}"
  exit 0
fi
repository="${FORECAST_ECR_REPOSITORY:?set FORECAST_ECR_REPOSITORY (terraform output ecr_repository_url) or FORECAST_IMAGE}"
tag="${FORECAST_IMAGE_TAG:-$(git rev-parse --short=12 HEAD)}"
registry="${repository%%/*}"
region="$(cut -d. -f4 <<<"${registry}")"
aws ecr get-login-password --region "${region}" | docker login --username AWS --password-stdin "${registry}" >&2
docker build --platform linux/amd64 -t "${repository}:${tag}" . >&2
docker push "${repository}:${tag}" >&2
echo "${repository}:${tag}"
