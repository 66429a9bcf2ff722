#!/usr/bin/env bash
# Installs the OCI client tools that tests/clients/ drives against artifact-store.
#
# Idempotent: a second run with everything present is a fast no-op (no apt-get
# update, no go build). Go tools go to $TOOLS_DIR/bin (the Makefile puts it on
# PATH); Debian packages come from apt. Under CI=true a failed install fails the
# script; otherwise it warns and the affected tests skip.
#
# Nothing global is configured for the plain-HTTP test registry on 127.0.0.1:
# the tests pass --plain-http / --tls-verify=false / --insecure-registry (dockerd
# they start themselves) on each command.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"

TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/artifact-store}"
BIN="$TOOLS_DIR/bin"
mkdir -p "$BIN"

# Pinned client versions. regctl and cosign: the newest releases the Go module
# proxy serves (`go list -m -versions MODULE`) when these pins were chosen.
GO_TOOLS=(
  "oras|oras.land/oras|oras.land/oras/cmd/oras|v1.3.6"
  "crane|github.com/google/go-containerregistry|github.com/google/go-containerregistry/cmd/crane|v0.22.1"
  "regctl|github.com/regclient/regclient|github.com/regclient/regclient/cmd/regctl|v0.11.7"
  "cosign|github.com/sigstore/cosign/v2|github.com/sigstore/cosign/v2/cmd/cosign|v2.6.5"
)

# Debian packages: the image tools, the container engines the tests start with
# their own state directories, and what the image fixtures use (tar, zstd).
APT_PACKAGES=(
  skopeo
  podman
  umoci
  containerd
  runc
  docker.io
  zstd
  tar
  ca-certificates
)

failures=()

say() { printf 'setup-clients: %s\n' "$*" >&2; }

fail() {
  failures+=("$1")
  say "FAILED: $1"
}

# --- Debian packages --------------------------------------------------------

apt_install_missing "${APT_PACKAGES[@]}" || fail "apt-get install ${APT_PACKAGES[*]}"

# --- Go tools ---------------------------------------------------------------


if ! command -v go >/dev/null 2>&1; then
  fail "go toolchain not found; cannot build: oras crane regctl cosign"
else
  for entry in "${GO_TOOLS[@]}"; do
    IFS='|' read -r name module package version <<<"$entry"
    have="$(go_binary_version "$BIN/$name" "$module")"
    if [ "$have" = "$version" ]; then
      continue
    fi
    say "go install $package@$version"
    if ! GOBIN="$BIN" GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" \
      go install "$package@$version"; then
      fail "go install $package@$version"
    fi
  done
fi

# --- Python client ----------------------------------------------------------
# The `oras` Python package is a dev dependency in pyproject.toml (make venv).

if [ "${#failures[@]}" -gt 0 ]; then
  say "${#failures[@]} install(s) failed; their client tests will skip (fail under CI=true):"
  for f in "${failures[@]}"; do say "  - $f"; done
  if [ "${CI:-}" = "true" ]; then
    exit 1
  fi
fi
exit 0
