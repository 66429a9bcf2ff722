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

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  pkg_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    fail "apt-get not available; cannot install: ${missing[*]}"
  else
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    say "installing Debian packages: ${missing[*]}"
    # Keep package maintainer scripts from starting system-wide docker/containerd
    # daemons: the tests start their own, on their own sockets.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
      "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
      created_policy=1
    fi
    if "${SUDO[@]}" apt-get update -qq &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      :
    else
      fail "apt-get install ${missing[*]}"
    fi
    [ "$created_policy" -eq 0 ] || "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
  fi
fi

# --- Go tools ---------------------------------------------------------------

# Prints the module version a Go binary was built from ("" if unknown).
go_binary_version() {
  local binary="$1" module="$2"
  [ -x "$binary" ] || return 0
  go version -m "$binary" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}

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
