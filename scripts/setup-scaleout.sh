#!/usr/bin/env bash
# Installs what the scale-out tests (tests/scaleout/) start or drive, from Debian:
#   postgresql          the metadata database (the tests run initdb in a temporary directory)
#   nginx-light         the load balancer in front of two replicas
#   buildah, mmdebstrap build deploy/Containerfile; mmdebstrap makes the Debian base image
#                       from Debian's archive where no container registry can be reached
#   systemd             systemd-analyze, to verify deploy/systemd/artifact-store.service
# SeaweedFS (the S3 server) comes from scripts/setup-s3.sh, skopeo from setup-clients.sh.
#
# Idempotent: with everything present it is a fast no-op (no apt-get update). No
# service is started: the tests start their own, on 127.0.0.1 and free ports. Under
# CI=true a failed install fails the script; otherwise it warns and the tests skip.
set -euo pipefail

APT_PACKAGES=(postgresql nginx-light buildah mmdebstrap systemd)

say() { printf 'setup-scaleout: %s\n' "$*" >&2; }

give_up() {
  say "FAILED: $*"
  if [ "${CI:-}" = "true" ]; then
    exit 1
  fi
  say "the affected scale-out tests will skip"
  exit 0
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || give_up "apt-get not available; cannot install: ${missing[*]}"
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
say "installing Debian packages: ${missing[*]}"
# Package scripts must not start a system-wide PostgreSQL or nginx on the default ports.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
status=0
"${SUDO[@]}" apt-get update -qq &&
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
[ "$created_policy" -eq 0 ] || "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
[ "$status" -eq 0 ] || give_up "apt-get install ${missing[*]}"
