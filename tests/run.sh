#!/usr/bin/env bash
# Sets up and runs the whole test suite: venv, test tools, a throwaway PostgreSQL, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's Chromium (Playwright's own download cannot be reached).
command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q --no-install-recommends chromium)
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# The browser tests drive the system Chromium (never `playwright install`): install it once, as root.
command -v chromium >/dev/null || ( [ "$(id -u)" = 0 ] || SUDO=sudo; ${SUDO:-} apt-get update -q && ${SUDO:-} apt-get install -y -q --no-install-recommends chromium )
if [ -z "${CLOSEDLOOP_TEST_PG_URL:-}" ]; then
  eval "$(bash .ci/postgres.sh)"
fi
export CLOSEDLOOP_TEST_PG_URL
.venv/bin/ruff check .
# mypy cannot follow the editable install's import hook: give it `closedloop` as links.
mkdir -p build/typecheck/closedloop
for folder in daemon integration mappings; do
  ln -sfn "../../../$folder" "build/typecheck/closedloop/$folder"
done
.venv/bin/mypy
.venv/bin/pytest "$@"
