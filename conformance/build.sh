#!/usr/bin/env bash
# Build the OCI distribution-spec conformance suites from the Go module proxy.
#
#   released  the ginkgo suite (`go test -c`), pinned to the pseudo-version of
#             tag v1.1.1 (commit a139cc423184).  When the proxy refuses that
#             version we fall back to the newest served version from before the
#             2026 rewrite.
#   latest    the rewritten suite (`package main`, `go build`) at the module's
#             @latest; the version it resolved to is recorded and reused.
#
# Output in $TOOLS_DIR/bin (default ~/.cache/artifact-store/bin):
#   oci-conformance-<version>.test      released suite, named by the version built
#   oci-conformance-released.test       symlink to it
#   oci-conformance-latest-<version>    rewritten suite, named by the resolved version
#   oci-conformance-latest              symlink to it
#   oci-conformance-{released,latest}.version
#                                       "<module version> <description>" of what was built
#
# Idempotent: a suite whose binary and .version file exist is not rebuilt.
# CONFORMANCE_REFRESH=1 re-resolves both (e.g. to pick up a newer @latest).
# Without Go: a warning and exit 0, or failure when CI=true.
set -euo pipefail

MODULE=github.com/opencontainers/distribution-spec/conformance
# v1.1.1 = commit a139cc423184af6078077b9b7ee336eddbd03f8f, committed 2025-01-23T16:05:58Z.
# The module lives in a subdirectory without its own tags, hence a v0.0.0 pseudo-version.
RELEASED_PINNED=v0.0.0-20250123160558-a139cc423184
# Newest version the proxy serves from before the rewrite (commit f2182352d4cc,
# 2023-11-01, between v1.1.0-rc3 and v1.1.0-rc4) -- used only if the pin is refused.
RELEASED_FALLBACK=v0.0.0-20231101194043-f2182352d4cc

TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/artifact-store}
BIN_DIR=$TOOLS_DIR/bin
REFRESH=${CONFORMANCE_REFRESH:-0}

log() { printf 'conformance-tools: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"   # the usual install location, when not on PATH
fi
if ! command -v go >/dev/null 2>&1; then
    if [[ "${CI:-}" == "true" ]]; then
        log "ERROR: Go is not installed; it is required to build the conformance suites under CI=true"
        exit 1
    fi
    log "WARNING: Go is not installed; skipping the conformance suites (tests will be skipped)"
    exit 0
fi

mkdir -p "$BIN_DIR"

have() { # have SUITE -> 0 if its binary and version record exist
    [[ "$REFRESH" != "1" && -x "$BIN_DIR/oci-conformance-$1${2:-}" && -s "$BIN_DIR/oci-conformance-$1.version" ]]
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oci-conformance-build.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod"

new_module() { # new_module DIR -> a throwaway module to resolve and build in
    mkdir -p "$1"
    (cd "$1" && go mod init oci-conformance-build >/dev/null 2>&1)
}

# try_released VERSION NAME DESCRIPTION -> builds the ginkgo suite; returns 2 if the proxy refuses
# that version.  (Called under `if`, where set -e is off: hence the explicit checks.)
try_released() {
    local version=$1 name=$2 desc=$3 dir=$WORK/released-$1 out
    new_module "$dir" || return 1
    if ! (cd "$dir" && go get -t "$MODULE@$version" >"$dir/get.log" 2>&1); then
        log "could not fetch $MODULE@$version ($desc):"
        sed 's/^/    /' "$dir/get.log" >&2
        if grep -qiE '403|404|410|not available|not found|unknown revision|invalid version' "$dir/get.log"; then
            return 2
        fi
        return 1
    fi
    out="$BIN_DIR/oci-conformance-$name.test"
    (cd "$dir" && go test -c -o "$out.tmp" -ldflags "-X $MODULE.Version=$version" "$MODULE") || return 1
    mv -f "$out.tmp" "$out" || return 1
    ln -sfn "$(basename "$out")" "$BIN_DIR/oci-conformance-released.test" || return 1
    printf '%s %s\n' "$version" "$desc" >"$BIN_DIR/oci-conformance-released.version" || return 1
    log "built released suite $MODULE@$version [$desc] -> $out"
}

build_latest() {
    local dir=$WORK/latest version out
    new_module "$dir"
    if ! (cd "$dir" && go get "$MODULE@latest" >"$dir/get.log" 2>&1); then
        sed 's/^/    /' "$dir/get.log" >&2
        log "ERROR: could not fetch $MODULE@latest"
        exit 1
    fi
    version=$(cd "$dir" && go list -m -f '{{.Version}}' "$MODULE")
    out="$BIN_DIR/oci-conformance-latest-$version"
    if [[ ! -x "$out" ]]; then
        (cd "$dir" && go build -o "$out.tmp" -ldflags "-X main.Version=$version" "$MODULE")
        mv -f "$out.tmp" "$out"
    fi
    ln -sfn "$(basename "$out")" "$BIN_DIR/oci-conformance-latest"
    printf '%s %s\n' "$version" "@latest" >"$BIN_DIR/oci-conformance-latest.version"
    log "built rewritten suite $MODULE@latest = $version -> $out"
}

if have released .test; then
    log "released suite up to date: $(cat "$BIN_DIR/oci-conformance-released.version") ($BIN_DIR/oci-conformance-released.test)"
else
    rc=0
    try_released "$RELEASED_PINNED" v1.1.1 "v1.1.1" || rc=$?
    if [[ $rc == 2 ]]; then
        log "the proxy refuses v1.1.1; falling back to the newest pre-rewrite version it serves: $RELEASED_FALLBACK"
        rc=0
        try_released "$RELEASED_FALLBACK" "$RELEASED_FALLBACK" \
            "pre-rewrite f2182352d4cc (fallback: the proxy refuses v1.1.1)" || rc=$?
    fi
    if [[ $rc != 0 ]]; then
        log "ERROR: failed to build the released conformance suite"
        exit 1
    fi
fi

if have latest; then
    log "rewritten suite up to date: $(cat "$BIN_DIR/oci-conformance-latest.version") ($BIN_DIR/oci-conformance-latest)"
else
    build_latest
fi
