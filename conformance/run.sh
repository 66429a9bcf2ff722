#!/usr/bin/env bash
# Run the OCI conformance suites built by conformance/build.sh.
#
#   bash conformance/run.sh            # fresh artifact-store (free port, temp data dir) per suite
#   bash conformance/run.sh URL        # an already running registry, e.g. http://127.0.0.1:5000
#   bash conformance/run.sh [URL] --suite released|latest [--verbose]
#
# Reports: conformance/results/<suite>/{junit.xml,report.html,output.log,failures.txt}
# Prints "<suite> <version>: N passed, M failed, K skipped" per suite and exits non-zero
# if any spec failed (or, under CI=true, if a suite binary is missing).
# The logic lives in conformance/suites.py, shared with tests/test_conformance.py.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/artifact-store}
PYTHON=python3
if [[ -x "$ROOT/.venv/bin/python" ]]; then
    PYTHON=$ROOT/.venv/bin/python
    export PATH="$ROOT/.venv/bin:$PATH"   # artifact-store console script
fi
exec "$PYTHON" "$ROOT/conformance/suites.py" "$@"
