#!/usr/bin/env bash
# Debian's chromium for the browser tests. Without it (and no way to install it) the e2e tests skip
# with a reason; everything else still runs.
set -uo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "NOTE: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium);"
    echo "      the browser tests (tests/e2e) will be skipped."
    exit 0
fi
echo "Installing Debian's chromium for the browser tests..."
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq chromium; }; then
    echo "NOTE: installing chromium failed; the browser tests (tests/e2e) will be skipped."
fi
exit 0
