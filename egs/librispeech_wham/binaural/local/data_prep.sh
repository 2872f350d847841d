#!/usr/bin/env bash
# Stage 1 of the binaural recipe: Kaldi data directories for the speech sets (train, dev,
# test from LibriSpeech subsets), the noise sets (noise_tr/cv/tt from WHAM!) and the BRIR
# lists brir_{train,dev,test} (python -m tsepn.bin.prepare_brirs: CIPIC, RRBRIR, ASH, CATT;
# splits, directions and the facing response per scene, 16 kHz).
#
#   local/data_prep.sh [--strict true] [--nj 4] [--brir-dir DIR] <librispeech_dir> <wham_dir> <data_dir>
#
# --brir-dir: the folder holding CIPIC/ RRBRIR/ ASH-Listening-Set-8.0/ CATT_RIRs/ (see
# tools/download_brirs.sh); default: brirs/ beside LibriSpeech/ (where the mini corpus puts
# its synthetic sets). run.sh passes its --brir-dir through the environment.
set -euo pipefail
strict=false
nj=4
sample_rate=16000
train_subset=train-clean-360
dev_subset=dev-clean
test_subset=test-clean
brir_dir=${brir_dir:-}        # run.sh's --brir-dir (exported)
brir_max_seconds=1.0          # responses are cut to this length (the authors: 1 s)
help_message="Usage: $0 [--strict true|false] [--nj N] [--sample-rate HZ] [--brir-dir DIR] <librispeech_dir> <wham_dir> <data_dir>"
. utils/parse_options.sh
. utils/log.sh
[ $# -eq 3 ] || { echo "$help_message" >&2; exit 1; }
librispeech_dir=$1 wham_dir=$2 data=$3

strict_opt=()
[ "$strict" = true ] && strict_opt=(--strict)
for pair in "train:$train_subset" "dev:$dev_subset" "test:$test_subset"; do
  set_name=${pair%%:*} subset=${pair#*:}
  log "data/$set_name <- LibriSpeech $subset"
  python -m tsepn.bin.prepare_librispeech --corpus-dir "$librispeech_dir" --subset "$subset" \
    --out "$data/$set_name" --sample-rate "$sample_rate" --nj "$nj" "${strict_opt[@]}"
done
for split in tr cv tt; do
  log "data/noise_$split <- WHAM! noise $split"
  python -m tsepn.bin.prepare_wham_noise --wham-dir "$wham_dir" --split "$split" \
    --out "$data/noise_$split" --sample-rate "$sample_rate" --nj "$nj" "${strict_opt[@]}"
done
utils/validate_data_dir.sh "$data"/{train,dev,test,noise_tr,noise_cv,noise_tt}

[ -n "$brir_dir" ] || brir_dir=$(dirname "$librispeech_dir")/brirs
[ -d "$brir_dir" ] || die "BRIR sets: $brir_dir: no such folder (give --brir-dir; see tools/download_brirs.sh)"
layout_opt=()
[ -e "$brir_dir/../.done" ] && layout_opt=(--layout-only)   # the mini corpus: its own sizes
log "data/brir_{train,dev,test} <- BRIR sets in $brir_dir"
python -m tsepn.bin.check_corpus brirs --root "$brir_dir" "${layout_opt[@]}"
python -m tsepn.bin.prepare_brirs --root "$brir_dir" --out "$data/brir" --sample-rate "$sample_rate" \
  --max-seconds "$brir_max_seconds"
