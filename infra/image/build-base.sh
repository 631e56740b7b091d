#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11 from Debian packages, made with debootstrap, for
# machines that reach no container registry (the build machines of this project). It stands in
# for the production base python:3.11.7-slim-bookworm: `make image` passes it as BASE_IMAGE.
# What differs from the production base is listed in docs/deploy.md ("The image").
#
#   infra/image/build-base.sh [NAME]     default NAME: localhost/forecast-base:bookworm
#
# An existing image of that name is kept (delete it with `podman rmi NAME` to rebuild).
# Environment: PODMAN (default: podman with the flags these machines need), DEBIAN_MIRROR.
set -euo pipefail
name="${1:-localhost/forecast-base:bookworm}"
read -r -a podman <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What python:3.11.7-slim-bookworm has besides Python: CA certificates, tzdata, netbase.
packages=python3,python3-venv,python-is-python3,ca-certificates,tzdata,netbase

if "${podman[@]}" image exists "${name}"; then
  echo "base image ${name} exists; kept (podman rmi ${name} to rebuild)" >&2
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "debootstrap needs root" >&2; exit 1; }

rootfs="$(mktemp -d /tmp/forecast-base.XXXXXX)"
trap 'rm -rf "${rootfs}"' EXIT
echo "debootstrap --variant=minbase bookworm (${packages}) from ${mirror}" >&2
debootstrap --variant=minbase --include="${packages}" bookworm "${rootfs}" "${mirror}" >&2
# Like the slim images: no package lists, caches, docs or man pages; no host name or resolver
# configuration from the building machine (the container runtime provides both).
rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/* "${rootfs}"/var/log/* \
  "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/info/* \
  "${rootfs}"/tmp/* "${rootfs}"/root/.cache
: >"${rootfs}/etc/hostname"
rm -f "${rootfs}/etc/resolv.conf"
tar --numeric-owner -C "${rootfs}" -c . |
  "${podman[@]}" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase bookworm ${packages}" \
    - "${name}" >&2
"${podman[@]}" run --rm --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  "${name}" python -c 'import sys, ssl, venv; print("base", sys.version.split()[0])' >&2
