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
#
# Usage: setup-clients.sh [TOOL...]. With names (e.g. `helm3 helm4 flux`), only those
# Go tools are installed and the Debian packages are left alone.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"

TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/artifact-store}"
BIN="$TOOLS_DIR/bin"
mkdir -p "$BIN"

# Pinned client versions: name|module|package|version|rough build time on 2 cores.
# The binary is installed as $BIN/<name>, so two majors of one client (helm 3 and 4)
# live side by side. regctl, cosign, helm 4: the newest releases (of their major) the
# Go module proxy serves (`go list -m -versions MODULE`) when these pins were chosen.
GO_TOOLS=(
  "oras|oras.land/oras|oras.land/oras/cmd/oras|v1.3.6|1 min"
  "crane|github.com/google/go-containerregistry|github.com/google/go-containerregistry/cmd/crane|v0.22.1|1 min"
  "regctl|github.com/regclient/regclient|github.com/regclient/regclient/cmd/regctl|v0.11.7|1 min"
  "cosign|github.com/sigstore/cosign/v2|github.com/sigstore/cosign/v2/cmd/cosign|v2.6.5|5 min"
  "helm3|helm.sh/helm/v3|helm.sh/helm/v3/cmd/helm|v3.22.0|3 min"
  "helm4|helm.sh/helm/v4|helm.sh/helm/v4/cmd/helm|v4.3.2|4 min"
)

# flux (the newest release the Go module proxy serves; it needs Go >= 1.26). Its go.mod
# has replace directives, which `go install PACKAGE@VERSION` refuses, so it is built
# from the module's source; see build_flux below.
FLUX_MODULE="github.com/fluxcd/flux2/v2"
FLUX_VERSION="v2.9.5"
FLUX_BUILD_TIME="5 min"

# Debian packages: the image tools, the container engines the tests start with
# their own state directories, what the image fixtures use (tar, zstd), and gnupg
# for the key that signs a Helm chart.
APT_PACKAGES=(
  skopeo
  podman
  umoci
  containerd
  runc
  docker.io
  zstd
  tar
  gnupg
  ca-certificates
)

failures=()
requested=("$@")
known=(flux)
for entry in "${GO_TOOLS[@]}"; do known+=("${entry%%|*}"); done
for name in "${requested[@]}"; do
  case " ${known[*]} " in
  *" $name "*) ;;
  *)
    printf 'setup-clients: unknown tool %s (known: %s)\n' "$name" "${known[*]}" >&2
    exit 2
    ;;
  esac
done

say() { printf 'setup-clients: %s\n' "$*" >&2; }

fail() {
  failures+=("$1")
  say "FAILED: $1"
}

# --- Debian packages --------------------------------------------------------

if [ "${#requested[@]}" -eq 0 ]; then
  apt_install_missing "${APT_PACKAGES[@]}" || fail "apt-get install ${APT_PACKAGES[*]}"
fi

# --- Go tools ---------------------------------------------------------------

# True when no tool names were given, or NAME is one of them.
wanted() {
  [ "${#requested[@]}" -eq 0 ] && return 0
  local r
  for r in "${requested[@]}"; do [ "$r" = "$1" ] && return 0; done
  return 1
}

# go install PACKAGE@VERSION, then move the binary to $BIN/NAME (a rename in $BIN, so a
# test never sees a half-written binary).
install_go_tool() {
  local name="$1" package="$2" version="$3" gobin status=0
  gobin="$(mktemp -d "$BIN/.go-install.XXXXXX")"
  GOBIN="$gobin" GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" \
    go install "$package@$version" &&
    mv -f "$gobin/$(basename "$package")" "$BIN/$name" || status=$?
  rm -rf "$gobin"
  return "$status"
}

# Builds flux from a writable copy of its module source. `make build` upstream first
# renders the install manifests the CLI embeds (cmd/flux/manifests/*.yaml) with
# kustomize from GitHub; here they are a placeholder, so `flux install` and
# `flux bootstrap` of this binary cannot install controllers. The tests use only its
# OCI artifact commands.
build_flux() {
  local dir src status=0
  dir="$(GOTOOLCHAIN=local go mod download -json "$FLUX_MODULE@$FLUX_VERSION" |
    awk -F'"' '$2 == "Dir" { print $4 }')" || return 1
  [ -n "$dir" ] || return 1
  src="$(mktemp -d "$BIN/.flux-src.XXXXXX")"
  cp -R "$dir/." "$src" && chmod -R u+w "$src" && mkdir -p "$src/cmd/flux/manifests" &&
    printf '# install manifests are not bundled in this build\n' \
      >"$src/cmd/flux/manifests/placeholder.yaml" &&
    (cd "$src" && GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" \
      go build -ldflags "-X main.VERSION=${FLUX_VERSION#v}" -o "$src/flux.bin" ./cmd/flux) &&
    mv -f "$src/flux.bin" "$BIN/flux" || status=$?
  rm -rf "$src"
  return "$status"
}

# Prints the version `flux version --client` reports ("" if flux is absent).
flux_version() {
  [ -x "$BIN/flux" ] || return 0
  "$BIN/flux" version --client 2>/dev/null | awk '$1 == "flux:" { print $2 }'
}

# Runs "$@" and says how long it took.
timed() {
  local start=$SECONDS
  "$@" || return 1
  say "  done in $((SECONDS - start)) s"
}

if ! command -v go >/dev/null 2>&1; then
  fail "go toolchain not found; cannot build the Go tools (oras crane regctl cosign helm flux)"
else
  for entry in "${GO_TOOLS[@]}"; do
    IFS='|' read -r name module package version took <<<"$entry"
    wanted "$name" || continue
    [ "$(go_binary_version "$BIN/$name" "$module")" != "$version" ] || continue
    say "building $name: go install $package@$version" \
      "(about $took on 2 cores with a cold Go build cache)"
    timed install_go_tool "$name" "$package" "$version" || fail "go install $package@$version"
  done
  if wanted flux && [ "$(flux_version)" != "$FLUX_VERSION" ]; then
    say "building flux: $FLUX_MODULE@$FLUX_VERSION from source" \
      "(about $FLUX_BUILD_TIME on 2 cores with a cold Go build cache)"
    timed build_flux || fail "go build $FLUX_MODULE/cmd/flux@$FLUX_VERSION"
  fi
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
