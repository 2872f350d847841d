#!/usr/bin/env bash
# BRIR sets of the binaural recipe: CIPIC (SOFA), RRBRIR (SOFA), ASH-Listening-Set-8.0 (wav),
# CATT RIRs (wav, 16 kHz); the paper samples them with weights 35 / 5 / 45 / 15.
# No automatic download: this prints what to fetch and where to unpack it, and
# `--verify DIR` checks what is on disk.
#
#   tools/download_brirs.sh                 # instructions
#   tools/download_brirs.sh --verify DIR    # DIR holds CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/
#
# Figures as reported by a public data-preparation README (see tsepn/data/corpora.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${TSEPN_PYTHON:-$root/tools/venv/bin/python}
[ -x "$python" ] || python=python3

if [ "${1:-}" = --verify ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --verify DIR" >&2; exit 2; }
  exec env PYTHONPATH="$root" "$python" -m tsepn.bin.check_corpus brirs --root "$2"
fi
[ $# -eq 0 ] || { echo "usage: $0 [--verify DIR]" >&2; exit 2; }

cat <<'TXT'
Fetch the four sets into one folder DIR:

1. CIPIC HRTFs, SOFA (https://sofacoustics.org/data/database/cipic/), all 45 subject_NNN.sofa,
   about 82 MB in total:
     mkdir -p DIR/CIPIC && cd DIR/CIPIC
     # e.g.: for f in $(curl -s https://sofacoustics.org/data/database/cipic/ | grep -oE 'subject_[0-9]+\.sofa' | sort -u); do
     #         wget https://sofacoustics.org/data/database/cipic/$f; done
   -> DIR/CIPIC/subject_*.sofa (45 files)

2. RRBRIR, the Surrey real-room BRIRs, SOFA (https://github.com/IoSR-Surrey/RealRoomBRIRs):
   the 5 files UniS_*_BRIR_16k.sofa (about 47 MB) -> DIR/RRBRIR/*.sofa

3. ASH Listening Set 8.0 (https://github.com/ShanonPearce/ASH-Listening-Set/releases/tag/v8.0):
   ASH-Listening-Set-8.0.zip (about 230 MB), unzip in DIR
   -> DIR/ASH-Listening-Set-8.0/BRIRs/... (stereo wav BRIRs; file count not checked)

4. CATT RIRs (https://iosr.uk/software/, formerly iosr.surrey.ac.uk):
   https://iosr.uk/software/downloads/CATT_RIRs.zip (about 71 MB), unzip in DIR
   -> DIR/CATT_RIRs/Binaural/16k/<rt60 0_0s .. 1_0s>/*.wav (407 files: 11 rooms x 37 azimuths)

Then check: tools/download_brirs.sh --verify DIR
TXT
