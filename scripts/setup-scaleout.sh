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
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"

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

apt_install_missing "${APT_PACKAGES[@]}" || give_up "apt-get install ${APT_PACKAGES[*]}"
