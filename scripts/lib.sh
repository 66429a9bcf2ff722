# Shared by the setup scripts: `source "$(dirname "$0")/../scripts/lib.sh"` or similar.

# Installs the Debian packages of "$@" that are missing, without letting their
# maintainer scripts start system-wide daemons (tests start their own on free
# ports). Runs `apt-get update` only when something is missing. Prints what it
# installs on stderr; returns non-zero when the install fails.
apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = "installed" ] ||
      missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    printf 'apt-get not available; cannot install: %s\n' "${missing[*]}" >&2
    return 1
  fi
  local sudo=() created_policy=0 status=0
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  printf 'installing Debian packages: %s\n' "${missing[*]}" >&2
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ "$created_policy" -eq 0 ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
  return "$status"
}

# Prints the module version a Go binary was built from ("" if unknown).
go_binary_version() {
  local binary="$1" module="$2"
  [ -x "$binary" ] || return 0
  go version -m "$binary" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}
