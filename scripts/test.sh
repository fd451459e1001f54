#!/usr/bin/env bash
# Set up .venv (requirements + test requirements), then run the whole pytest suite.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup.sh" --test
source "$REPO/scripts/env.sh"
cd "$REPO"
exec "$PY" -m pytest -q -p no:cacheprovider --durations=15 "${@:-tests}"
