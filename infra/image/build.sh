#!/usr/bin/env bash
# Build the flow-run image locally (`make image`): podman where it is installed, else a Docker
# engine. Progress goes to stderr; the last line on stdout is the image name.
#
#   IMAGE       default forecast-pipeline:local
#   BASE_IMAGE  default localhost/forecast-base:bookworm, the debootstrap stand-in built (once)
#               by infra/image/build-base.sh; python:3.11.7-slim-bookworm (the Dockerfile's
#               default, the production base) where a registry is reachable
#   PODMAN      podman and its global flags (default: the runc/cgroupfs flags these machines need)
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${IMAGE:-forecast-pipeline:local}"
base="${BASE_IMAGE:-localhost/forecast-base:bookworm}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
read -r -a podman <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"

if command -v "${podman[0]}" >/dev/null; then
  if [[ "${base}" == localhost/forecast-base:* ]]; then
    infra/image/build-base.sh "${base}"
  fi
  # The host's CA certificates are mounted for the RUN steps only (pip behind a TLS-inspecting
  # proxy); they are not copied into any layer.
  "${podman[@]}" build --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --volume /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg BASE_IMAGE="${base}" --build-arg PIP_CA_BUNDLE="${ca_bundle}" \
    --tag "${image}" . >&2
  "${podman[@]}" image inspect --format '{{.Size}}' "${image}" |
    awk -v name="${image}" '{ printf "built %s: %.0f MB\n", name, $1 / 1e6 }' >&2
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  if [[ "${base}" == localhost/forecast-base:* ]]; then
    base=python:3.11.7-slim-bookworm # a Docker engine pulls the production base
  fi
  docker build --build-arg BASE_IMAGE="${base}" --tag "${image}" . >&2
else
  echo "no container engine: install podman (apt-get install podman runc debootstrap) or run a Docker engine" >&2
  exit 1
fi
echo "${image}"
