#!/bin/sh
# The chat page in a real browser: runs tests/web/page.test.mjs with node and
# playwright-core driving the system's chromium (never a downloaded one).
# Skips (exit 77) only when chromium or node is missing; playwright-core is
# installed into the npm cache outside the repository when it is not there.
# Environment (CTest sets it): TK_BIN, TK_SRC, TK_SHARED; TK_CHROMIUM to
# use another chromium; TEKTRA_ARTIFACTS for where screenshots go.
set -eu
chromium=${TK_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "SKIP: no chromium at $chromium (scripts/setup.sh --with-chromium installs it)"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node is not installed (scripts/setup.sh --with-chromium installs it)"
    exit 77
fi
modules=$("$TK_SRC/scripts/npm-cache.sh" browser)/node_modules
TK_CHROMIUM=$chromium NODE_PATH=$modules exec node "$TK_SRC/tests/web/page.test.mjs"
