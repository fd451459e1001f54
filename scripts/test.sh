#!/usr/bin/env bash
# Set up .venv (requirements + test requirements), then run the whole pytest suite.
#   bash scripts/test.sh [pytest args]
# Test files run in TEST_WORKERS parallel processes (default 2, pytest-xdist, one file per process at a time);
# TEST_WORKERS=0 runs them in this process, one after another.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup.sh" --test
source "$REPO/scripts/env.sh"
cd "$REPO"
WORKERS="${TEST_WORKERS:-2}"
PARALLEL=()
[ "$WORKERS" != "0" ] && PARALLEL=(-n "$WORKERS" --dist loadfile)
exec "$PY" -m pytest -q -p no:cacheprovider --durations=15 "${PARALLEL[@]}" "${@:-tests}"
