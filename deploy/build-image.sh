#!/usr/bin/env bash
# Build the artifact-store image with buildah (Debian's package) from deploy/Containerfile.
#
#   deploy/build-image.sh [TAG]        default TAG: localhost/artifact-store:latest
#
# BASE (default docker.io/library/debian:bookworm-slim) is pulled from its registry.
# Where no container registry can be reached, BOOTSTRAP_BASE=1 builds an equivalent
# base (a minimal Debian 12) from Debian's package archive with mmdebstrap instead,
# tagged localhost/artifact-store-base:bookworm and kept in buildah's storage.
#
# pip inside the build trusts the build host's CA bundle (HOST_CA_BUNDLE, default
# /etc/ssl/certs/ca-certificates.crt when present; empty: the image's own), so a
# build behind a TLS-inspecting proxy reaches PyPI.
#
# Environment: BUILDAH_ROOT (storage directory; default buildah's own),
# STORAGE_DRIVER (default vfs: works nested and without fuse), ISOLATION (default
# chroot: needs no user namespaces), DEBIAN_MIRROR (default http://deb.debian.org/debian).
# The image is built in Docker format, which keeps the HEALTHCHECK.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=${1:-localhost/artifact-store:latest}
BASE=${BASE:-docker.io/library/debian:bookworm-slim}
LOCAL_BASE=localhost/artifact-store-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
ISOLATION=${ISOLATION:-chroot}
BUILDAH=(buildah)
if [[ -n "${BUILDAH_ROOT:-}" ]]; then
    BUILDAH+=(--root "$BUILDAH_ROOT/storage" --runroot "$BUILDAH_ROOT/run")
fi

say() { printf 'build-image: %s\n' "$*" >&2; }

command -v buildah >/dev/null || { say "buildah is not installed (apt-get install buildah)"; exit 1; }

bootstrap_base() {
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is not installed"; exit 1; }
    local work rootfs container
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    rootfs=$work/rootfs.tar
    say "bootstrapping a Debian 12 base from $MIRROR (a few minutes)"
    mmdebstrap --quiet --variant=minbase --mode=root bookworm "$rootfs" "$MIRROR"
    container=$("${BUILDAH[@]}" from scratch)
    "${BUILDAH[@]}" add "$container" "$rootfs" / >/dev/null
    "${BUILDAH[@]}" config --cmd /bin/bash "$container"
    "${BUILDAH[@]}" commit --quiet "$container" "$LOCAL_BASE" >/dev/null
    "${BUILDAH[@]}" rm "$container" >/dev/null
}

base=$BASE
if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1 &&
    ! "${BUILDAH[@]}" pull --quiet "$BASE" >/dev/null 2>"${TMPDIR:-/tmp}/build-image-pull.log"; then
    if [[ "${BOOTSTRAP_BASE:-0}" != "1" ]]; then
        say "cannot pull $BASE: $(tail -1 "${TMPDIR:-/tmp}/build-image-pull.log")"
        say "set BOOTSTRAP_BASE=1 to build an equivalent base from Debian's archive"
        exit 2
    fi
    say "cannot pull $BASE; using $LOCAL_BASE built from Debian's archive"
    "${BUILDAH[@]}" inspect --type image "$LOCAL_BASE" >/dev/null 2>&1 || bootstrap_base
    base=$LOCAL_BASE
fi

trust=()
CA=${HOST_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
if [[ -n "$CA" && -f "$CA" ]]; then
    trust=(--volume "$CA:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt)
fi
"${BUILDAH[@]}" build --quiet --format docker --isolation "$ISOLATION" --network host \
    "${trust[@]}" --build-arg "BASE=$base" -f "$ROOT/deploy/Containerfile" -t "$TAG" "$ROOT" >/dev/null
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true  # the previous build's image, now untagged
say "built $TAG from $base"
