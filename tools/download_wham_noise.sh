#!/usr/bin/env bash
# WHAM! noise (tr / cv / tt folders: train / validation / test noise of the recipe).
# No automatic download: this prints what to fetch and where to unpack it, and
# `--verify DIR` checks what is on disk.
#
#   tools/download_wham_noise.sh                 # instructions
#   tools/download_wham_noise.sh --verify DIR    # DIR holds wham_noise/{tr,cv,tt} (and/or wham_noise.zip)
#
# Figures (sources in tsepn/data/corpora.py): 20000 / 5000 / 3000 wav files in
# tr / cv / tt, 16 kHz, 2 channels; the zip is about 17.6-18.2 GB (sources differ).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${TSEPN_PYTHON:-$root/tools/venv/bin/python}
[ -x "$python" ] || python=python3

if [ "${1:-}" = --verify ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --verify DIR" >&2; exit 2; }
  dir=$2
  status=0
  if [ -f "$dir/wham_noise.zip" ]; then
    echo "== archive in $dir"
    PYTHONPATH=$root "$python" -m tsepn.bin.check_corpus archives --root "$dir" --corpus wham || status=1
  fi
  echo "== extracted noise under $dir"
  PYTHONPATH=$root "$python" -m tsepn.bin.check_corpus wham --root "$dir" || status=1
  exit $status
fi
[ $# -eq 0 ] || { echo "usage: $0 [--verify DIR]" >&2; exit 2; }

cat <<TXT
WHAM! noise (http://wham.whisper.ai, CC BY-NC 4.0): fetch
  https://my-bucket-a8b4b49c25c811ee9a7e8bba05fa24c7.s3.amazonaws.com/wham_noise.zip   about 18 GB
(the address given on the WHAM! page at the time of writing; the older
https://storage.googleapis.com/whisper-public/wham_noise.zip is reported dead).

Unpack it into a folder DIR:
  mkdir -p DIR && unzip -q wham_noise.zip -d DIR
which gives DIR/wham_noise/{tr,cv,tt}/*.wav (20000 / 5000 / 3000 files, 16 kHz, 2 channels,
about 38 GB unpacked). Copies made by LibriMix's speed augmentation (*sp08.wav, *sp12.wav in tr)
are accepted and used as extra training noise.

Then check it and run the recipe:
  tools/download_wham_noise.sh --verify DIR
  cd egs/librispeech_wham/mono && ./run.sh --librispeech-dir LIBRI_DIR --wham-dir DIR
TXT
