#!/usr/bin/env bash
# Sets up and runs the whole test suite: venv, test tools, a throwaway PostgreSQL, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# The browser tests drive Debian's Chromium (Playwright's own browser download cannot be
# reached; never `playwright install`): install it once, as root, with the font the layout
# tests measure with.
command -v chromium >/dev/null || ( [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  ${SUDO:-} apt-get update -q && ${SUDO:-} apt-get install -y -q --no-install-recommends \
    chromium fonts-dejavu-core )
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
