#!/usr/bin/env bash
# Monaural target speaker extraction from noisy positive and negative enrollments,
# LibriSpeech + WHAM! noise (or, by default, the built-in synthetic mini corpus).
#
#   ./run.sh                                   # everything, mini corpus
#   ./run.sh --stop-stage 2                    # corpus, data dirs, speech activity
#   ./run.sh --librispeech-dir /d --wham-dir /d   # the real corpora (see tools/download_*.sh)
#   ./run.sh --stage 3 --stop-stage 3          # one stage
set -euo pipefail

# ---- options (each can be set as --name-with-dashes value) --------------------------------
stage=0
stop_stage=100
nj=4                        # parallel processes / jobs
corpus=""                   # mini | librispeech; empty: mini unless --librispeech-dir is given
librispeech_dir=""          # folder holding LibriSpeech/{train-clean-360,dev-clean,test-clean}
wham_dir=""                 # folder holding wham_noise/{tr,cv,tt}
check_counts=true           # stage 0, real corpora: require the published file counts
corpus_dir=corpus           # where --corpus mini writes LibriSpeech/ and wham_noise/
mini_config=conf/mini.yaml
simulate_config=conf/simulate.yaml
data=data
exp=exp
sample_rate=16000
strict=false                # true: audio at another sample rate is an error (else: resampled, warned)
teacher_config=conf/train_teacher.yaml   # stage 4
stage1_config=conf/train_stage1.yaml     # stage 5 (distillation)
stage2_config=conf/train_stage2.yaml     # stage 6 (extraction)
train_args=""               # extra dotted overrides for every training stage, e.g. "train.epochs=2"
ntrain=auto                 # training processes on this machine (>1: torchrun, DistributedDataParallel);
                            # auto: one per GPU, else 2 on a CPU with >= 2 cores (one core each)
teacher_checkpoint=""       # an existing teacher model file: stage 4 is skipped, stage 5 distils from it
decode_config=conf/decode.yaml
test_sets="test_m2e2 test_m2e3 test_m3e2 test_m3e3"   # stage 7-8 (+ each <set>_wrong_enroll)
wrong_enroll=true           # also decode/score the <testset>_wrong_enroll controls
score_nj=2                  # processes for scoring

help_message="Usage: $0 [options]
  --stage N --stop-stage M   run stages N..M (0 corpus, 1 data dirs, 2 speech activity,
                             3 scenarios + dev/test sets, 4 teacher, 5 stage-1 distillation,
                             6 stage-2 extraction, 7 decode, 8 score)
  --corpus mini|librispeech  default: mini, or librispeech when --librispeech-dir is given
  --librispeech-dir DIR --wham-dir DIR   the real corpora
  --check-counts true|false  stage 0: require the published file counts (default $check_counts)
  --nj N                     parallel jobs (default $nj)
  --strict true|false        wrong sample rate = error (default $strict)
  --teacher-config F --stage1-config F --stage2-config F   training configs (stages 4, 5, 6)
  --teacher-checkpoint FILE  use an existing teacher (skips stage 4)
  --train-args \"k=v ...\"    dotted config overrides for stages 4-6 (e.g. \"train.epochs=2\")
  --ntrain N                 training processes on this machine, DDP when > 1 (default $ntrain)
  --decode-config FILE --test-sets \"A B\" --wrong-enroll true|false   stages 7-8
  --mini-config FILE --simulate-config FILE --data DIR --exp DIR --corpus-dir DIR"

cmdline="$0 $*"             # recorded in RESULTS.md
. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
. utils/log.sh
[ $# -eq 0 ] || die "unexpected arguments: $* (see --help)"

[[ "$ntrain" = auto || "$ntrain" =~ ^[1-9][0-9]*$ ]] || die "--ntrain $ntrain: expected a positive integer or auto"

# One training stage: python -m tsepn.bin.train ARGS, under torchrun when --ntrain > 1.
train() {
  if [ "$ntrain" = auto ]; then  # resolved at the first training stage only: it imports torch
    ntrain=$(python -c 'import torch; print(torch.cuda.device_count())')
    [ "$ntrain" -gt 0 ] || ntrain=$(( $(nproc) >= 2 ? 2 : 1 ))
  fi
  if [ "$ntrain" -gt 1 ]; then
    python -m torch.distributed.run --standalone --nproc-per-node "$ntrain" -m tsepn.bin.train "$@"
  else
    python -m tsepn.bin.train "$@"
  fi
}

if [ -z "$corpus" ]; then
  if [ -n "$librispeech_dir" ]; then corpus=librispeech; else corpus=mini; fi
fi
case $corpus in
  mini)
    [ -z "$librispeech_dir$wham_dir" ] || die "--corpus mini makes its own corpus; drop --librispeech-dir/--wham-dir"
    librispeech_dir=$corpus_dir/LibriSpeech
    wham_dir=$corpus_dir/wham_noise ;;
  librispeech)
    [ -n "$librispeech_dir" ] && [ -n "$wham_dir" ] ||
      die "--corpus librispeech needs --librispeech-dir and --wham-dir (see tools/download_librispeech.sh, tools/download_wham_noise.sh)" ;;
  *) die "--corpus must be mini or librispeech, got '$corpus'" ;;
esac
strict_opt=()
[ "$strict" = true ] && strict_opt=(--strict)
speech_sets="train dev test"

# Experiment folders are named after the configs: conf/train_stage2.yaml -> tuning/train_stage2_mini.yaml
# gives exp/stage2_mini (and so on), so that two configurations never share a folder.
config_tag() { local name; name=$(basename "$(readlink -f "$1")" .yaml); echo "${name#train_$2}"; }
teacher_exp=$exp/teacher$(config_tag "$teacher_config" teacher)
stage1_exp=$exp/stage1$(config_tag "$stage1_config" stage1)
stage2_exp=$exp/stage2$(config_tag "$stage2_config" stage2)
[ -n "$teacher_checkpoint" ] && teacher_model=$teacher_checkpoint || teacher_model=$teacher_exp/model.pt
eval_sets=""
for set_name in $test_sets; do
  eval_sets+=" $set_name"
  [ "$wrong_enroll" = true ] && eval_sets+=" ${set_name}_wrong_enroll"
done


if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ "$corpus" = mini ]; then
    log "Stage 0: mini corpus in $corpus_dir/ ($mini_config)"
    python -m tsepn.bin.make_mini_corpus --config "$mini_config" --out "$corpus_dir" --nj "$nj"
    python -m tsepn.bin.check_corpus librispeech --root "$librispeech_dir" --layout-only
    python -m tsepn.bin.check_corpus wham --root "$wham_dir" --layout-only
  else
    layout_opt=()
    [ "$check_counts" = true ] || layout_opt=(--layout-only)
    log "Stage 0: check LibriSpeech in $librispeech_dir and WHAM! noise in $wham_dir"
    python -m tsepn.bin.check_corpus librispeech --root "$librispeech_dir" "${layout_opt[@]}"
    python -m tsepn.bin.check_corpus wham --root "$wham_dir" "${layout_opt[@]}"
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "Stage 1: data directories $data/{train,dev,test,noise_tr,noise_cv,noise_tt}"
  local/data_prep.sh --strict "$strict" --nj "$nj" --sample-rate "$sample_rate" \
    "$librispeech_dir" "$wham_dir" "$data"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "Stage 2: speech activity ($data/<set>/activity)"
  for set_name in $speech_sets; do
    if [ -s "$data/$set_name/activity" ] && [ "$data/$set_name/activity" -nt "$data/$set_name/wav.scp" ]; then
      log "$data/$set_name/activity is up to date"
      continue
    fi
    python -m tsepn.bin.compute_activity --data-dir "$data/$set_name" --nj "$nj" \
      --sample-rate "$sample_rate" "${strict_opt[@]}"
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "Stage 3: scenario specs and rendered dev/test sets ($simulate_config)"
  python -m tsepn.bin.simulate_sets --config "$simulate_config" --data-dir "$data" --nj "$nj"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  if [ -n "$teacher_checkpoint" ]; then
    log "Stage 4: teacher given ($teacher_checkpoint); nothing to train"
    [ -f "$teacher_checkpoint" ] || die "--teacher-checkpoint $teacher_checkpoint: no such file"
  else
    log "Stage 4: teacher, a clean-enrollment TSE model ($teacher_config -> $teacher_exp)"
    train --config "$teacher_config" --exp-dir "$teacher_exp" --resume $train_args
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "Stage 5: stage-1 training, distillation of the enrollment encoder ($stage1_config -> $stage1_exp)"
  train --config "$stage1_config" --exp-dir "$stage1_exp" --resume \
    "init.teacher=$teacher_model" $train_args
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "Stage 6: stage-2 training, extractor and fusion ($stage2_config -> $stage2_exp)"
  train --config "$stage2_config" --exp-dir "$stage2_exp" --resume \
    "init.distilled=$stage1_exp/model.pt" $train_args
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  log "Stage 7: decode$eval_sets ($decode_config, $stage2_exp/model.pt)"
  for set_name in $eval_sets; do
    dir=$stage2_exp/decode_$set_name
    ${decode_cmd} JOB=1:"$nj" "$dir/log/decode.JOB.log" \
      python -m tsepn.bin.decode --checkpoint "$stage2_exp/model.pt" --config "$decode_config" \
        --set-dir "$data/$set_name" --out-dir "$dir" --nj "$nj" --job JOB
    python -m tsepn.bin.decode --merge --out-dir "$dir" --nj "$nj" --set-dir "$data/$set_name"
  done
fi

if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
  log "Stage 8: score$eval_sets, $stage2_exp/RESULTS.md"
  for set_name in $eval_sets; do
    python -m tsepn.bin.score --ref "$data/$set_name/ref.scp" --mix "$data/$set_name/mix.scp" \
      --est "$stage2_exp/decode_$set_name/est.scp" --out-dir "$stage2_exp/score_$set_name" \
      --sample-rate "$sample_rate" --nj "$score_nj"
  done
  python -m tsepn.bin.make_results --exp-dir "$stage2_exp" --paper proposed \
    --command "$cmdline" --config "$stage2_config" --config "$stage1_config" --config "$teacher_config" \
    --checkpoint "$stage2_exp/model.pt"
  cat "$stage2_exp/RESULTS.md"
fi

log "Done (stages $stage..$stop_stage)"
