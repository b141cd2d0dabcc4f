# Sourced by scripts/demo and scripts/test: make and activate ./.venv with Python >= 3.11.
# Debian's python3 refuses `pip install` outside a virtual environment (PEP 668), and a fresh
# Debian lacks the venv module: install it from apt when we can.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "scrutin: Python 3.11 or newer is needed (apt-get install python3)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "scrutin: Python 3.11 or newer is needed, found $("$PYTHON" --version)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            echo "scrutin: installing python3-venv with apt-get" >&2
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
            sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null
        fi
        "$PYTHON" -m venv .venv
    fi
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
