#!/usr/bin/env bash
# Builds SeaweedFS (`weed`), the S3-compatible server the storage tests start on
# 127.0.0.1, from the Go module proxy into $TOOLS_DIR/bin.
#
# SeaweedFS tags its releases without the "v" Go wants, so the proxy serves it
# only by pseudo-version; the pin below is a commit the proxy serves that builds
# with the local Go. Its go.mod carries `replace` directives, which
# `go install pkg@version` refuses, so the build runs in a small wrapper module
# that requires the pinned version and repeats those replace lines.
#
# Idempotent: a `weed` built from the pinned version is kept (the build takes
# minutes on two cores; Go's module and build caches make a rebuild faster).
# Under CI=true a failed build fails the script; otherwise it warns and the S3
# tests skip.
set -euo pipefail

MODULE=github.com/seaweedfs/seaweedfs
# Commit 7506e5f91cd6 of 2026-11-09 (SeaweedFS 4.x line).
VERSION=v0.0.0-20261109003541-7506e5f91cd6

TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/artifact-store}"
BIN="$TOOLS_DIR/bin"
SRC="$TOOLS_DIR/src/seaweedfs-$VERSION"

say() { printf 'setup-s3: %s\n' "$*" >&2; }

give_up() {
  say "FAILED: $*"
  if [ "${CI:-}" = "true" ]; then
    exit 1
  fi
  say "the S3 storage tests will skip"
  exit 0
}

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || give_up "go toolchain not found; cannot build weed"

built_version() {
  [ -x "$BIN/weed" ] || return 0
  go version -m "$BIN/weed" 2>/dev/null | awk -v m="$MODULE" '($1 == "mod" || $1 == "dep") && $2 == m { print $3 }'
}

if [ "$(built_version)" = "$VERSION" ]; then
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-mod=mod"
mkdir -p "$BIN" "$SRC"
say "building weed from $MODULE@$VERSION (several minutes, once)"

upstream_mod="$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')" ||
  give_up "go mod download $MODULE@$VERSION"
[ -s "$upstream_mod" ] || give_up "no go.mod for $MODULE@$VERSION"

{
  printf 'module artifact-store.local/seaweedfs-build\n\n'
  grep -m1 '^go ' "$upstream_mod"
  printf '\nrequire %s %s\n\n' "$MODULE" "$VERSION"
  awk '/^replace \(/ { block = 1 } block || /^replace [^(]/ { print } /^\)/ { block = 0 }' "$upstream_mod"
} >"$SRC/go.mod"

(
  cd "$SRC"
  go mod download "$MODULE" &&
    go get "$MODULE/weed@$VERSION" &&
    go build -trimpath -ldflags "-s -w" -o "$BIN/weed.new" "$MODULE/weed"
) || give_up "go build $MODULE/weed@$VERSION"
mv "$BIN/weed.new" "$BIN/weed"
say "built $BIN/weed"
