#!/usr/bin/env bash
# Installs what `make bench` needs: the peer registries and the load tools.
#
#   docker-registry   Debian's distribution 2.8.2 (/usr/bin/docker-registry)
#   registry-v3       distribution v3, built from the Go module proxy into $TOOLS_DIR/bin
#   crane             go-containerregistry v0.22.1 (`crane registry serve`)
#   wrk               request rates (Debian)
#   oha               request rates for HEAD, which wrk cannot parse (crates.io, into
#                     $TOOLS_DIR/bin; with the system OpenSSL rather than its default
#                     rustls + aws-lc, which takes far longer to build)
#   curl              streams
# skopeo, for image copies, comes from scripts/setup-clients.sh (`make clients`).
#
# `--quick` installs only what takes seconds (the Debian packages; crane comes with
# `make clients`): enough for the smoke run of `make test`, which leaves out the peers
# that are absent. The builds of registry-v3 and oha (minutes each on 2 cores) are for
# `make bench`.
#
# Idempotent: with everything present it is a fast no-op (no apt-get update, no
# go build). Under CI=true a failed install fails the script; elsewhere it warns
# and the harness leaves the missing peer out of the table.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"

TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/artifact-store}"
BIN="$TOOLS_DIR/bin"
mkdir -p "$BIN"

# distribution v3: the newest version the Go module proxy served when pinned
# (`go list -m -versions github.com/distribution/distribution/v3`).
GO_TOOLS=(
  "registry-v3|github.com/distribution/distribution/v3|github.com/distribution/distribution/v3/cmd/registry|v3.1.2"
  "crane|github.com/google/go-containerregistry|github.com/google/go-containerregistry/cmd/crane|v0.22.1"
)
APT_PACKAGES=(docker-registry wrk curl libssl-dev pkg-config)
OHA_VERSION=1.16.0  # newest on crates.io when pinned

failures=()
say() { printf 'setup-peers: %s\n' "$*" >&2; }
fail() {
  failures+=("$1")
  say "FAILED: $1"
}

install_apt() {
  apt_install_missing "${APT_PACKAGES[@]}" || fail "apt-get install ${APT_PACKAGES[*]}"
}


install_go() {
  if ! command -v go >/dev/null 2>&1; then
    fail "go toolchain not found; cannot build registry-v3 and crane"
    return 0
  fi
  local entry name module package version build
  for entry in "${GO_TOOLS[@]}"; do
    IFS='|' read -r name module package version <<<"$entry"
    [ "$(go_binary_version "$BIN/$name" "$module")" != "$version" ] || continue
    say "go install $package@$version"
    # Built into a scratch GOBIN, then renamed: `registry` is too generic a name for PATH.
    build="$(mktemp -d)"
    if GOBIN="$build" GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" \
      timeout 1200 go install "$package@$version"; then
      mv -f "$build/$(basename "$package")" "$BIN/$name"
    else
      fail "go install $package@$version"
    fi
    rm -rf "$build"
  done
}

install_oha() {
  local have=""
  [ ! -x "$BIN/oha" ] || have="$("$BIN/oha" --version 2>/dev/null | awk '{ print $2 }')"
  [ "$have" != "$OHA_VERSION" ] || return 0
  if ! command -v cargo >/dev/null 2>&1; then
    fail "cargo not found; cannot build oha"
    return 0
  fi
  say "cargo install oha@$OHA_VERSION (several minutes)"
  if ! timeout 2400 cargo install oha --version "$OHA_VERSION" --locked --no-default-features \
    --features native-tls --root "$TOOLS_DIR" --quiet; then
    fail "cargo install oha@$OHA_VERSION"
  fi
}

install_apt
if [ "${1:-}" != "--quick" ]; then
  say "building the benchmark peers that are not built yet (registry-v3: ~2 min, oha: ~10 min)"
  install_go
  install_oha
fi

if [ "${#failures[@]}" -gt 0 ]; then
  say "${#failures[@]} install(s) failed; those peers are left out of the benchmark:"
  for f in "${failures[@]}"; do say "  - $f"; done
  [ "${CI:-}" != "true" ] || exit 1
fi
exit 0
