#!/usr/bin/env bash
# `make fresh-check`: the README's `make test` on a fresh machine, in a throw-away podman
# container from the Debian base `make image` builds (infra/image/build-base.sh: Debian bookworm
# minbase with Debian's Python 3.11 and CA certificates, nothing else).
#
# What the container is, so what a pass proves:
#   * the checkout is a `git clone` of a bundle of HEAD: committed work only, never the working
#     tree's uncommitted changes or ignored files (.venv, .forecast);
#   * ../shared beside the clone is the host's ../shared, mounted read-only, as CI has it;
#   * the machine layer, what these project machines have and the project does not install
#     itself (../shared/ENVIRONMENT.md): Debian's security and update suites in apt's sources,
#     `make` (the README's commands are make targets) and `git` (to clone) from apt, and
#     Terraform: the host's binary and its provider mirror /opt/tf-plugins, mounted read-only
#     (Terraform is no Debian package; no registry of it is reachable here);
#   * everything else — chromium, postgresql (infra/system-deps.sh), the venvs and every Python
#     package (requirements.lock, from PyPI only: none of the host's pip find-links, local
#     indexes or constraints) — is installed by `make test` itself.
# Not proved: the host's Python 3.11.7 (the base has Debian's 3.11.2), nor a machine without
# Terraform. The container shares the host's network (--network=host); pip trusts the host's CA
# bundle (PIP_CERT), everything else the container's own Debian certificates.
#
# Environment: PODMAN (podman and its global flags), BASE_IMAGE, FRESH_LOG (the container's whole
# output; default $FORECAST_HOME/fresh-check.log, else .forecast/fresh-check.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root="${PWD}"
read -r -a podman <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"
base="${BASE_IMAGE:-localhost/forecast-base:bookworm}"
log="${FRESH_LOG:-${FORECAST_HOME:-${root}/.forecast}/fresh-check.log}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
# The host's CA bundle (what pip trusts on this machine) is mounted beside the container's own
# /etc/ssl/certs, not over it: postgresql's ssl-cert writes its snakeoil certificate there while
# it is configured, and a read-only /etc/ssl/certs makes that apt-get install fail.
host_ca=/etc/ssl/host-ca-certificates.crt

fail() {
  echo "fresh-check: $*" >&2
  exit 1
}

command -v "${podman[0]}" >/dev/null ||
  fail "podman is not installed (apt-get install podman runc debootstrap)"
[[ -d ../shared/data/raw ]] ||
  fail "no ../shared/data/raw beside the checkout: the real-data tiers read the input files there"
shared="$(cd ../shared && pwd -P)"
terraform="$(command -v terraform)" ||
  fail "terraform is not on PATH: the container borrows the host's (no registry of it is reachable)"
terraform="$(readlink -f "${terraform}")"
[[ -d /opt/tf-plugins ]] || fail "no /opt/tf-plugins: the container borrows the host's provider mirror"
[[ -f ${ca_bundle} ]] || fail "no ${ca_bundle}: pip in the container trusts the host's CA bundle"

# the debootstrap base is built once (kept afterwards); another BASE_IMAGE must be a Debian image
# podman has or can pull
if [[ "${base}" == localhost/forecast-base:* ]]; then
  infra/image/build-base.sh "${base}"
fi

commit="$(git rev-parse HEAD)"
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
  echo "fresh-check: the working tree has uncommitted changes; the container tests HEAD only" >&2
fi
scratch="$(mktemp -d /tmp/forecast-fresh.XXXXXX)"
name="forecast-fresh-$$-${RANDOM}"
cleanup() {
  "${podman[@]}" rm --force --ignore --time 0 "${name}" >/dev/null 2>&1 || true
  rm -rf "${scratch}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
git bundle create --quiet "${scratch}/checkout.bundle" HEAD

# Runs in the container as root. The clone sits at /work/forecast with ../shared at /work/shared.
cat >"${scratch}/inside.sh" <<'INSIDE'
set -euo pipefail
stamp() { printf 'fresh-check: [%4d s] %s\n' "${SECONDS}" "$*"; }
stamp "container: $(. /etc/os-release && echo "${PRETTY_NAME}"), $(python3 --version)," \
  "nothing else installed: make $(command -v make || echo absent), git $(command -v git || echo absent)," \
  "chromium $(command -v chromium || echo absent), postgresql $(command -v pg_ctlcluster || echo absent)"
# The machine layer: apt's sources as a Debian install has them, make and git.
rm -f /etc/apt/sources.list
cat >/etc/apt/sources.list.d/debian.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make git >/dev/null
rm -rf /var/lib/apt/lists/*  # as the base has it: make test's own apt-get update must happen
stamp "machine layer: make, git; terraform $(terraform version | head -1) (host's, read-only)"
git -c advice.detachedHead=false clone --quiet /mnt/checkout.bundle /work/forecast
cd /work/forecast
stamp "cloned $(git log -1 --format='%h %s' | cut -c1-100)"
test_started=${SECONDS}
status=0
make test || status=$?
stamp "make test exited ${status} after $((SECONDS - test_started)) s"
# The venv against the lock: every locked version installed, and what came beyond it (a
# dependency the lock, frozen on another Python, does not name)
if [[ -x .venv/bin/python ]]; then
  pins() { tr '[:upper:]' '[:lower:]' | grep -v -E '^(#|pip==|setuptools==|wheel==)' | LC_ALL=C sort; }
  frozen="$(.venv/bin/python -m pip freeze --exclude-editable --all | pins)"
  locked="$(pins <requirements.lock)"
  missing="$(LC_ALL=C comm -23 <(echo "${locked}") <(echo "${frozen}") | tr '\n' ' ')"
  beyond="$(LC_ALL=C comm -13 <(echo "${locked}") <(echo "${frozen}") | tr '\n' ' ')"
  verdict="every locked version installed"
  [[ -z ${missing} ]] || verdict="NOT installed as locked: ${missing}"
  stamp "requirements.lock: ${verdict}; installed beyond it: ${beyond:-nothing}"
fi
exit "${status}"
INSIDE

echo "fresh-check: make test of ${commit:0:12} in a throw-away container from ${base} (log: ${log})" >&2
mkdir -p "$(dirname "${log}")"
started=${SECONDS}
# In the background, so that a signal reaches the traps at once: cleanup removes the container.
{
  code=0
  "${podman[@]}" run --rm --name "${name}" --network=host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    --volume "${scratch}:/mnt:ro" \
    --volume "${shared}:/work/shared:ro" \
    --volume "${ca_bundle}:${host_ca}:ro" \
    --volume "${terraform}:/usr/local/bin/terraform:ro" \
    --volume /opt/tf-plugins:/opt/tf-plugins:ro \
    --env PIP_CERT="${host_ca}" --env REQUESTS_CA_BUNDLE="${host_ca}" \
    --env PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "${base}" bash /mnt/inside.sh 2>&1 || code=$?
  { echo "${code}" >"${scratch}/status"; } 2>/dev/null || true # gone when interrupted
} | tee "${log}" &
wait $! || true
status="$(cat "${scratch}/status" 2>/dev/null || echo 1)"
elapsed=$((SECONDS - started))

summary="$(grep -a -E '^=+ .*\b(passed|failed|error|errors|no tests ran)\b.* in [0-9.]+s' "${log}" | tail -1 || true)"
summary="${summary//=/}"
summary="$(echo "${summary}" | sed -E 's/^ +| +$//g')"
test_time="$(grep -a -o -E 'make test exited [0-9]+ after [0-9]+ s' "${log}" | tail -1 || true)"
printf 'fresh-check: %s: %s; %s; container %dm%02ds in all\n' "${commit:0:12}" \
  "${summary:-no pytest summary line}" "${test_time:-make test did not finish}" \
  $((elapsed / 60)) $((elapsed % 60))
exit "${status}"
