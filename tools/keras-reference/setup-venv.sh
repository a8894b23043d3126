#!/usr/bin/env bash
# Create (or reuse) the Python venv with a real Keras used by make_fixtures.py.
#
#   ./setup-venv.sh                 # venv at ${XDG_CACHE_HOME:-$HOME/.cache}/headbench/keras-venv
#   HEADBENCH_KERAS_VENV=/x ./setup-venv.sh
#
# Index selection is left to pip itself (pip.conf / PIP_* env). On machines with
# an offline mirror, pass it through the environment, e.g.
#
#   PIP_INDEX_URL=file:///opt/pypi/simple ./setup-venv.sh
#
# The script is idempotent: it records a hash of requirements.txt inside the
# venv and skips pip when the hash matches and the packages still import.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
venv="${HEADBENCH_KERAS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/headbench/keras-venv}"
python="${PYTHON:-python3}"

# Fail fast instead of hanging on retries when there is no network.
export PIP_RETRIES="${PIP_RETRIES:-0}"
export PIP_TIMEOUT="${PIP_TIMEOUT:-5}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" # quiet the import checks below

stamp="$venv/.headbench-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
  "$venv/bin/python" -c 'import h5py, keras, tensorflow' >/dev/null 2>&1; then
  echo "keras venv up to date: $venv"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv: $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi

echo "installing $req into $venv"
"$venv/bin/pip" install -r "$req"
"$venv/bin/python" -c 'import h5py, keras, tensorflow as tf; print("keras", keras.__version__, "tensorflow", tf.__version__, "h5py", h5py.__version__)'
echo "$want" >"$stamp"
