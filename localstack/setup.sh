#!/usr/bin/env bash
# Creates localstack/.venv (Python 3.13) with LocalStack's S3 runtime, pinned by requirements.txt
# and constraints.txt. Idempotent: when the venv was already built from the same pins with the
# same Python, it does nothing. Override the interpreter with LOCALSTACK_PYTHON=/path/to/python3.13.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
state="$here/.state"
marker="$venv/.edgegate-setup"

find_python() {
    if [[ -n "${LOCALSTACK_PYTHON:-}" ]]; then
        echo "$LOCALSTACK_PYTHON"
        return 0
    fi
    local root candidate
    if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)"; then
        # The newest installed 3.13.x.
        candidate="$(ls -d "$root"/versions/3.13.* 2>/dev/null | sort -V | tail -n 1 || true)"
        if [[ -n "$candidate" && -x "$candidate/bin/python3.13" ]]; then
            echo "$candidate/bin/python3.13"
            return 0
        fi
    fi
    if candidate="$(command -v python3.13 2>/dev/null)"; then
        echo "$candidate"
        return 0
    fi
    return 1
}

if ! python="$(find_python)"; then
    echo "localstack/setup.sh: Python 3.13 not found." >&2
    echo "  LocalStack $(sed -n 's/^localstack-core\[runtime\]==//p' "$here/requirements.txt") needs Python 3.13." >&2
    echo "  Install it (for example 'pyenv install 3.13') or set LOCALSTACK_PYTHON=/path/to/python3.13." >&2
    exit 1
fi
if ! version="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"; then
    echo "localstack/setup.sh: cannot run $python" >&2
    exit 1
fi
if [[ "$version" != 3.13.* ]]; then
    echo "localstack/setup.sh: $python is Python $version; LocalStack here needs 3.13.x." >&2
    exit 1
fi

# What the venv is built from: the pins (comments aside), the interpreter and this script's
# recipe version (bump it when a change here needs the venv rebuilt).
recipe=1
pins="$(cat "$here/requirements.txt" "$here/constraints.txt" | grep -v -E '^[[:space:]]*(#|$)' | sha256sum | cut -d' ' -f1)"
wanted="recipe-$recipe pins-$pins python-$version"

mkdir -p "$state"
# One setup at a time (tests and scripts may race to start LocalStack).
exec 9>"$state/setup.lock"
flock 9

if [[ -f "$marker" && "$(cat "$marker")" == "$wanted" && -x "$venv/bin/python" ]]; then
    exit 0
fi

echo "localstack/setup.sh: creating $venv with Python $version (takes a minute or two) ..."
start=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    -r "$here/requirements.txt" -c "$here/constraints.txt"
"$venv/bin/python" -m pip check
"$venv/bin/python" -c 'import localstack.runtime.main' # fails early if the install is unusable
echo "$wanted" >"$marker"
echo "localstack/setup.sh: done in $((SECONDS - start)) s"
