#!/usr/bin/env bash
# The machine-level packages `make test` needs, installed from Debian when missing, so that the
# README's two commands stay the whole set-up. `make test` runs it first (target system-deps) and
# .ci/run runs it with the image tier's packages added:
#
#   infra/system-deps.sh [EXTRA_PACKAGE ...]
#
#   chromium     headless rendering of the quality page (tests/browser.py,
#                tests/realdata/test_quality_page_real.py)
#   postgresql   PostgreSQL 15 for a local Prefect server (installed, not configured here)
#
# When everything is present this is one dpkg-query per package and a `command -v`: no apt, no
# network. Otherwise `apt-get update` + `apt-get install`, as root or through sudo; without
# either it stops with one line naming the command to run.
#
# Terraform is not a Debian package: it is part of these machines (1.11.x on PATH, the AWS
# provider in the filesystem mirror /opt/tf-plugins that infra/terraform.rc names). It is
# checked here, not installed, so that a machine without it stops at once with the reason instead
# of failing the Terraform tiers ten minutes into the suite.
set -euo pipefail

fail() {
  echo "infra/system-deps.sh: $*" >&2
  exit 1
}

packages=(chromium postgresql "$@")

command -v dpkg-query >/dev/null ||
  fail "no dpkg-query: this installs Debian packages only; install ${packages[*]} yourself"

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("${package}")
done

if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null ||
      fail "missing Debian packages ${missing[*]}: run as root, or install them (apt-get install ${missing[*]})"
    sudo=(sudo)
  fi
  echo "infra/system-deps.sh: apt-get install ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  # apt and dpkg say what failed on stdout: kept aside, shown only when the install fails
  output="$(mktemp)"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >"${output}" 2>&1; then
    tail -n 25 "${output}" >&2
    rm -f "${output}"
    fail "apt-get install ${missing[*]} failed (its last lines above)"
  fi
  rm -f "${output}"
fi

command -v terraform >/dev/null ||
  fail "terraform is not on PATH: the Terraform tiers need 1.11.x (/usr/local/bin/terraform on these machines; https://developer.hashicorp.com/terraform/install elsewhere)"
[[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]] ||
  fail "the AWS provider mirror /opt/tf-plugins is missing (infra/terraform.rc installs providers only from it)"
