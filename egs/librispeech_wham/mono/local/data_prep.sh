#!/usr/bin/env bash
# Stage 1 of this recipe: Kaldi data directories for the speech sets (train, dev,
# test from LibriSpeech subsets) and the noise sets (noise_tr/cv/tt from WHAM!).
# A new dataset recipe replaces this file.
#
#   local/data_prep.sh [--strict true] [--nj 4] <librispeech_dir> <wham_dir> <data_dir>
set -euo pipefail
strict=false
nj=4
sample_rate=16000
train_subset=train-clean-360
dev_subset=dev-clean
test_subset=test-clean
help_message="Usage: $0 [--strict true|false] [--nj N] [--sample-rate HZ] <librispeech_dir> <wham_dir> <data_dir>"
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
