#!/usr/bin/env bash
# The wallboard in a real browser: Debian's Chromium (apt, once) driven by
# playwright-core (npm, once) against local runs of the whole pipeline,
# one suite at a time (tests/browser/*.test.mjs). Screenshots land in
# target/wallboard/; UPDATE_SCREENSHOT=1 also copies the TV one to
# docs/wallboard.png for the README. Run by scripts/test.sh; on its own:
#
#   scripts/browser-test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ensure_python_tools
ensure_chromium
ensure_browser_tools
mkdir -p target/wallboard
# Built here so that each suite's local run starts at once.
build_binaries

status=0
for suite in tests/browser/*.test.mjs; do
  echo "==> browser tests: $suite"
  (cd tests/browser && node --test "$(basename "$suite")") || status=1
done
if [ "$status" -eq 0 ] && [ "${UPDATE_SCREENSHOT:-0}" = "1" ]; then
  cp target/wallboard/tv.png docs/wallboard.png
  echo "==> docs/wallboard.png updated"
fi
exit "$status"
