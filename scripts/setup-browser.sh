#!/usr/bin/env bash
# The browser of tests/ui: Debian's chromium, driven by Playwright for Python (a dev
# dependency, installed with the venv). Idempotent: with chromium present it does nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_install_missing chromium || { echo "setup-browser: cannot install chromium" >&2; exit 1; }
command -v chromium >/dev/null || { echo "setup-browser: chromium not on PATH" >&2; exit 1; }
