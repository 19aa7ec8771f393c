#!/usr/bin/env bash
# Create (or update) the Python venv of the interop tests at target/interop-venv:
# MSAL Python, azure-identity, requests and selenium, pinned in interop/requirements.txt.
#
#   bash interop/setup.sh            # then: cargo test -p entra-rs-examples --test interop_msal
#
# PYTHON picks the interpreter (default python3, 3.9 or newer). Re-running is cheap: when the
# venv already has this requirements.txt installed, nothing is downloaded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ENTRA_INTEROP_VENV:-$root/target/interop-venv}"
requirements="$root/interop/requirements.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "interop venv up to date: $venv"
  exit 0
fi

echo "creating the interop venv at $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$requirements"
echo "$want" > "$stamp"
"$venv/bin/python" -c 'import msal, azure.identity, requests, selenium; print("msal", msal.__version__, "| azure-identity", azure.identity.__version__, "| requests", requests.__version__, "| selenium", selenium.__version__)'
