#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in tools/venv.
# Idempotent: a stamp holding the hash of the requirement files makes a second
# run a no-op that returns in well under a second.
set -euo pipefail
tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools_dir")
venv=${TSEPN_VENV:-$tools_dir/venv}
python=${PYTHON:-python3}
espnet_version=202511

stamp_of() { cat "$tools_dir/requirements.txt" "$root/setup.py" "$0" | sha256sum | cut -d' ' -f1; }
want=$(stamp_of)
if [ -f "$venv/.tsepn_stamp" ] && [ "$(cat "$venv/.tsepn_stamp")" = "$want" ]; then
  echo "tools/setup_venv.sh: $venv is up to date"
  exit 0
fi

echo "tools/setup_venv.sh: creating $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# torch first, pinned, so nothing later can resolve it to a CUDA build.
"${pip[@]}" install "torch==2.13.0"
"${pip[@]}" install -r "$tools_dir/requirements.txt"
# ESPnet declares setuptools<74 while torch 2.13 needs >=77: install it without
# its dependency list; the modules tsepn imports need only the pins above.
"${pip[@]}" install --no-deps "espnet==$espnet_version"
"${pip[@]}" install --no-deps -e "$root"
"$venv/bin/python" - <<'PY'
import torch, soundfile, soxr, kaldiio, pesq, pystoi  # noqa: F401
from espnet2.enh.separator.tfgridnet_separator import TFGridNet  # noqa: F401
import tsepn  # noqa: F401
print("tools/setup_venv.sh: torch", torch.__version__, "OK")
PY
echo "$want" > "$venv/.tsepn_stamp"
