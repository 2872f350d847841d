#!/usr/bin/env bash
# LibriSpeech subsets used by tsepn (train-clean-360, dev-clean, test-clean).
# There is no automatic download here: this prints what to fetch and where to
# unpack it, and `--verify DIR` checks what is on disk.
#
#   tools/download_librispeech.sh                 # instructions
#   tools/download_librispeech.sh --verify DIR    # DIR holds LibriSpeech/<subset> (and/or the archives)
#
# Figures (sources in tsepn/data/corpora.py): openslr.org/12 lists the archives as
# train-clean-360.tar.gz 23G, dev-clean.tar.gz 337M, test-clean.tar.gz 346M;
# 104014 / 2703 / 2620 utterances; 921 / 40 / 40 speakers; 16 kHz mono flac.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${TSEPN_PYTHON:-$root/tools/venv/bin/python}
[ -x "$python" ] || python=python3
subsets=(train-clean-360 dev-clean test-clean)

if [ "${1:-}" = --verify ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --verify DIR" >&2; exit 2; }
  dir=$2
  status=0
  if ls "$dir"/*.tar.gz > /dev/null 2>&1; then
    echo "== archives in $dir"
    PYTHONPATH=$root "$python" -m tsepn.bin.check_corpus archives --root "$dir" --corpus librispeech || status=1
  fi
  echo "== extracted subsets under $dir"
  PYTHONPATH=$root "$python" -m tsepn.bin.check_corpus librispeech --root "$dir" --subsets "${subsets[@]}" || status=1
  exit $status
fi
[ $# -eq 0 ] || { echo "usage: $0 [--verify DIR]" >&2; exit 2; }

cat <<TXT
LibriSpeech (https://www.openslr.org/12, CC BY 4.0): fetch these archives
  https://www.openslr.org/resources/12/train-clean-360.tar.gz   about 23 GB   (104014 utterances, 921 speakers)
  https://www.openslr.org/resources/12/dev-clean.tar.gz         about 338 MB  (2703 utterances, 40 speakers)
  https://www.openslr.org/resources/12/test-clean.tar.gz        about 347 MB  (2620 utterances, 40 speakers)
and compare them with https://www.openslr.org/resources/12/md5sum.txt (md5sum -c).

Unpack all three into one folder DIR (each archive holds LibriSpeech/<subset>/):
  mkdir -p DIR && for f in train-clean-360 dev-clean test-clean; do tar -xzf \$f.tar.gz -C DIR; done
which gives DIR/LibriSpeech/{SPEAKERS.TXT,train-clean-360,dev-clean,test-clean}/<spk>/<chapter>/*.flac

Then check it and run the recipe:
  tools/download_librispeech.sh --verify DIR
  cd egs/librispeech_wham/mono && ./run.sh --librispeech-dir DIR --wham-dir WHAM_DIR
TXT
