#!/usr/bin/env bash
# The stages every tsepn recipe shares. A recipe's run.sh sources this file (the recipe's
# ./tse.sh links here), sets its own defaults, then runs the stages:
#
#   . ./tse.sh                     # these defaults and functions
#   paper_rows="proposed=proposed" # the recipe's own defaults (any variable here is an option)
#   tse_main "$@"                  # parse --options, run stages --stage..--stop-stage
#
# A recipe folder holds run.sh, conf/ (mini.yaml, simulate.yaml, decode.yaml, systems/) and
# local/data_prep.sh, plus the links tse.sh, path.sh, cmd.sh (-> egs/TEMPLATE) and utils.
# A system is a folder conf/systems/<name>/ of training configs <stage>_<step>.yaml: stage N
# (4, 5, 6) trains its N_*.yaml in name order into $exp/<name>/<step>/, and stages 7-8 decode
# and score the model of its last step. The configs name paths through placeholders that
# each training step resolves: ${data}, ${exp} (= $exp/<name>) and ${simulate_config}.
set -euo pipefail
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "$0: not a script to run: a recipe's run.sh sources it (see its first lines)" >&2
  exit 1
fi

# ---- options (each can be set as --name-with-dashes value; a recipe may change the defaults) ----
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
system=proposed             # conf/systems/<system>/: the training steps; experiments in $exp/<system>/
seed=""                     # stages 4-6: empty, the configs' own `seed:`; N: seed=N for every training
                            # step, and the system's experiments in $exp/<system>_seedN/ instead
seed_check=""               # stage 8, "MIN_DB MIN_GAP_DB": the seed table's check that every --seed run
                            # reaches MIN_DB SI-SNRi and MIN_GAP_DB above its wrong-enrollment control
train_args=""               # extra dotted overrides for every training step, e.g. "train.epochs=2"
ntrain=auto                 # training processes on this machine (>1: torchrun, DistributedDataParallel);
                            # auto: one per GPU, else 2 on a CPU with >= 2 cores (one core each)
teacher_checkpoint=""       # an existing teacher model file: the system's stage-4 step is not trained
decode_config=conf/decode.yaml
test_sets="test_m2e2 test_m2e3 test_m3e2 test_m3e3"   # stage 7-8 (+ each <set>_wrong_enroll)
wrong_enroll=true           # also decode/score the <testset>_wrong_enroll controls
absent_sets="test_absent"   # stage 7-8: target-absent sets (no control), each where stage 3 made it
asr=auto                    # stage 8 WER back end: auto = none on the mini corpus (it has no words),
                            # pocketsphinx (offline, in tools/venv) on a real corpus; none = no WER
asr_opts="maxhmmpf=3000"    # back-end options (--asr-opt), e.g. pocketsphinx beam; about 3x faster
score_nj=2                  # processes for scoring
paper_rows=""               # "system=row ...": the published row RESULTS.md shows beside a system
recipe_help=""              # --help lines of the recipe's own options (set in its run.sh)

# ---- helpers -------------------------------------------------------------------------------
# The training configs of stage N of system S, in name order: step_configs S N
step_configs() { local f; for f in conf/systems/"$1"/$2_*.yaml; do [ -e "$f" ] && echo "$f"; done; true; }
# conf/systems/S/5_stage1.yaml -> stage1
step_name() { local name; name=$(basename "$1" .yaml); echo "${name#*_}"; }
# The system's last training config (its model is the one decoded): final_config S
final_config() { step_configs "$1" "[0-9]" | tail -n 1; }
# The published row of system S (from paper_rows), or nothing
paper_row() { local pair; for pair in $paper_rows; do [ "${pair%%=*}" = "$1" ] && echo "${pair#*=}"; done; true; }

# One line per system of this recipe: its name and the first comment line of its last config.
systems_help() {
  local dir name config
  for dir in conf/systems/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    config=$(final_config "$name")
    printf '    %-18s %s\n' "$name" "$(sed -n '/^#/{s/^# *//p;q;}' "${config:-/dev/null}")"
  done
}

# One training step: python -m tsepn.bin.train ARGS, under torchrun when --ntrain > 1.
train() {
  if [ "$ntrain" = auto ]; then  # resolved at the first training step only: it imports torch
    ntrain=$(python -c 'import torch; print(torch.cuda.device_count())')
    [ "$ntrain" -gt 0 ] || ntrain=$(( $(nproc) >= 2 ? 2 : 1 ))
  fi
  if [ "$ntrain" -gt 1 ]; then
    python -m torch.distributed.run --standalone --nproc-per-node "$ntrain" -m tsepn.bin.train "$@"
  else
    python -m tsepn.bin.train "$@"
  fi
}

# The folder holding system S's scores: its last step's folder under $exp/S, or (a system
# whose configs are gone) the one step folder there with scores. Fails when there is none.
scored_dir() {
  local config dir found=()
  config=$(final_config "$1")
  if [ -n "$config" ]; then
    dir=$exp/$1/$(step_name "$config")
    compgen -G "$dir/score_*/summary.json" > /dev/null && { echo "$dir"; return 0; }
  fi
  for dir in "$exp/$1"/*/; do
    compgen -G "${dir}score_*/summary.json" > /dev/null && found+=("${dir%/}")
  done
  [ ${#found[@]} -eq 1 ] && echo "${found[0]}"
}

tse_main() {
  local cmdline="$0 $*"     # recorded in RESULTS.md
  . ./path.sh
  . ./cmd.sh
  help_message="Usage: $0 [options]
  --stage N --stop-stage M   run stages N..M (0 corpus, 1 data dirs, 2 speech activity,
                             3 scenarios + dev/test sets, 4-6 training steps of the system,
                             7 decode, 8 score)
  --system NAME              the system to train, decode and score (default $system):
$(systems_help)
  --corpus mini|librispeech  default: mini, or librispeech when --librispeech-dir is given
  --librispeech-dir DIR --wham-dir DIR   the real corpora
  --check-counts true|false  stage 0: require the published file counts (default $check_counts)
  --nj N                     parallel jobs (default $nj)
  --strict true|false        wrong sample rate = error (default $strict)
  --teacher-checkpoint FILE  use an existing teacher as the system's stage-4 step (not trained)
  --seed N                   training seed of stages 4-6 (seed=N in every step); experiments in
                             \$exp/<system>_seedN/ (default: the configs' seeds, in \$exp/<system>/)
  --seed-check \"DB GAP\"     stage 8's table over the --seed runs checks every run reaches DB dB
                             SI-SNRi and GAP dB above its wrong-enrollment control (default: no check)
  --train-args \"k=v ...\"    dotted config overrides for stages 4-6 (e.g. \"train.epochs=2\")
  --ntrain N                 training processes on this machine, DDP when > 1 (default $ntrain)
  --decode-config FILE --test-sets \"A B\" --wrong-enroll true|false   stages 7-8
  --absent-sets \"A\"         target-absent sets decoded/scored too (default: $absent_sets)
  --asr auto|none|pocketsphinx|whisper|...   WER back end of stage 8 (default $asr: none on
                             the mini corpus, else pocketsphinx); --asr-opts \"k=v ...\" its options
  --mini-config FILE --simulate-config FILE --data DIR --exp DIR --corpus-dir DIR${recipe_help:+
$recipe_help}"
  . utils/parse_options.sh
  . utils/log.sh
  [ $# -eq 0 ] || die "unexpected arguments: $* (see --help)"

  [[ "$ntrain" = auto || "$ntrain" =~ ^[1-9][0-9]*$ ]] || die "--ntrain $ntrain: expected a positive integer or auto"
  [[ -z "$seed" || "$seed" =~ ^[0-9]+$ ]] || die "--seed $seed: expected a non-negative integer"
  [[ -z "$seed_check" || "$seed_check" =~ ^-?[0-9.]+\ +-?[0-9.]+$ ]] ||
    die "--seed-check '$seed_check': expected two numbers, MIN_DB MIN_GAP_DB (e.g. \"3 3\")"
  [ -z "$teacher_checkpoint" ] || [ -f "$teacher_checkpoint" ] || die "--teacher-checkpoint $teacher_checkpoint: no such file"
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
  if [ "$stop_stage" -ge 4 ] && [ "$stage" -le 8 ]; then
    [ -n "$(final_config "$system")" ] ||
      die "--system $system: no training configs conf/systems/$system/<stage>_<step>.yaml; systems here:
$(systems_help | grep . || echo "    (none)")"
  fi
  local strict_opt=() eval_sets="" set_name n config dir
  [ "$strict" = true ] && strict_opt=(--strict)
  for set_name in $test_sets; do
    eval_sets+=" $set_name"
    [ "$wrong_enroll" = true ] && eval_sets+=" ${set_name}_wrong_enroll"
  done
  for set_name in $absent_sets; do   # only where stage 3 made it (simulate config's sets)
    [ -f "$data/$set_name/.done" ] && eval_sets+=" $set_name"
  done
  if [ "$asr" = auto ]; then
    if [ "$corpus" = mini ]; then asr=none; else asr=pocketsphinx; fi
  fi
  local sys_exp=$exp/$system   # ${exp} of the system's configs
  local seed_args=()
  if [ -n "$seed" ]; then      # another seed: another experiment folder, every step seeded alike
    sys_exp=$exp/${system}_seed$seed
    seed_args=("seed=$seed")
  fi
  local final_dir=""
  [ -z "$(final_config "$system")" ] || final_dir=$sys_exp/$(step_name "$(final_config "$system")")

  if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
    if [ "$corpus" = mini ]; then
      log "Stage 0: mini corpus in $corpus_dir/ ($mini_config)"
      python -m tsepn.bin.make_mini_corpus --config "$mini_config" --out "$corpus_dir" --nj "$nj"
      python -m tsepn.bin.check_corpus librispeech --root "$librispeech_dir" --layout-only
      python -m tsepn.bin.check_corpus wham --root "$wham_dir" --layout-only
    else
      local layout_opt=()
      [ "$check_counts" = true ] || layout_opt=(--layout-only)
      log "Stage 0: check LibriSpeech in $librispeech_dir and WHAM! noise in $wham_dir"
      python -m tsepn.bin.check_corpus librispeech --root "$librispeech_dir" "${layout_opt[@]}"
      python -m tsepn.bin.check_corpus wham --root "$wham_dir" "${layout_opt[@]}"
    fi
  fi

  if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    log "Stage 1: data directories $data/{train,dev,test,noise_tr,noise_cv,noise_tt} (local/data_prep.sh)"
    local/data_prep.sh --strict "$strict" --nj "$nj" --sample-rate "$sample_rate" \
      "$librispeech_dir" "$wham_dir" "$data"
  fi

  if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
    log "Stage 2: speech activity ($data/<set>/activity)"
    for set_name in train dev test; do
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

  # Stages 4-6: the system's training steps N_<step>.yaml -> $exp/<system>/<step>/
  # (e.g. proposed: 4 teacher, 5 stage-1 distillation, 6 stage-2 extraction).
  for n in 4 5 6; do
    [ "$stage" -le $n ] && [ "$stop_stage" -ge $n ] || continue
    if [ $n = 4 ] && [ -n "$teacher_checkpoint" ]; then
      config=$(step_configs "$system" 4 | tail -n 1)
      [ -n "$config" ] || die "--teacher-checkpoint: system $system has no stage-4 step (conf/systems/$system/4_*.yaml) to replace"
      dir=$sys_exp/$(step_name "$config")
      log "Stage 4: teacher given: $dir/model.pt -> $teacher_checkpoint (not trained)"
      [ ! -e "$dir/model.pt" ] || [ -L "$dir/model.pt" ] ||
        die "$dir/model.pt exists (a trained teacher); remove it, or give another --exp, to use --teacher-checkpoint"
      mkdir -p "$dir"
      ln -sfn "$(readlink -f "$teacher_checkpoint")" "$dir/model.pt"
      continue
    fi
    for config in $(step_configs "$system" $n); do
      dir=$sys_exp/$(step_name "$config")
      log "Stage $n: $system, training step $(step_name "$config") ($config -> $dir)"
      train --config "$config" --exp-dir "$dir" --resume \
        --var "data=$data" --var "exp=$sys_exp" --var "simulate_config=$simulate_config" "${seed_args[@]}" $train_args
    done
  done

  if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
    # a system may bring its own decode config (e.g. the clean enrollment of an upper bound)
    [ ! -f "conf/systems/$system/decode.yaml" ] || decode_config=conf/systems/$system/decode.yaml
    log "Stage 7: decode$eval_sets ($decode_config, $final_dir/model.pt)"
    for set_name in $eval_sets; do
      dir=$final_dir/decode_$set_name
      ${decode_cmd} JOB=1:"$nj" "$dir/log/decode.JOB.log" \
        python -m tsepn.bin.decode --checkpoint "$final_dir/model.pt" --config "$decode_config" \
          --set-dir "$data/$set_name" --out-dir "$dir" --nj "$nj" --job JOB
      python -m tsepn.bin.decode --merge --out-dir "$dir" --nj "$nj" --set-dir "$data/$set_name"
    done
  fi

  if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
    log "Stage 8: score$eval_sets, $final_dir/RESULTS.md, $exp/RESULTS.md"
    local score_opts opt
    for set_name in $eval_sets; do
      score_opts=()
      if [ "$asr" = none ]; then
        score_opts+=(--unavailable "wer=no words (the $corpus corpus)")
      else
        score_opts+=(--asr "$asr")
        for opt in $asr_opts; do score_opts+=(--asr-opt "$opt"); done
        # a control has the same targets as its set: reuse the recogniser's reference transcripts
        [[ "$set_name" != *_wrong_enroll ]] ||
          score_opts+=(--asr-ref "$final_dir/score_${set_name%_wrong_enroll}/asr_ref.txt")
      fi
      python -m tsepn.bin.score --ref "$data/$set_name/ref.scp" --mix "$data/$set_name/mix.scp" \
        --est "$final_dir/decode_$set_name/est.scp" --out-dir "$final_dir/score_$set_name" \
        --sample-rate "$sample_rate" --nj "$score_nj" "${score_opts[@]}"
      # a system's own figures beside its scores (e.g. refsel: selected vs oracle reference)
      [ ! -f "conf/systems/$system/report.yaml" ] ||
        python -m tsepn.bin.system_report --config "conf/systems/$system/report.yaml" \
          --checkpoint "$final_dir/model.pt" --set-dir "$data/$set_name" --out-dir "$final_dir/score_$set_name"
    done
    local results_opts=() row systems=()
    row=$(paper_row "$system")
    [ -z "$row" ] || results_opts+=(--paper "$row")
    for config in $(step_configs "$system" "[0-9]" | sort -r); do results_opts+=(--config "$config"); done
    python -m tsepn.bin.make_results --exp-dir "$final_dir" "${results_opts[@]}" \
      --command "$cmdline" --checkpoint "$final_dir/model.pt"
    cat "$final_dir/RESULTS.md"
    # every system trained so far, side by side
    for dir in "$exp"/*/; do
      dir=$(scored_dir "$(basename "$dir")") && systems+=("$(basename "$(dirname "$dir")")=$dir")
    done
    # The comparison table needs a make_results that knows --compare; an older package has
    # only the per-system RESULTS.md written above, so the table is then left out, with a note.
    if [[ "$(python -m tsepn.bin.make_results --help)" == *--compare* ]]; then
      python -m tsepn.bin.make_results --compare --out "$exp/RESULTS.md" "${systems[@]}"
    else
      log "this tsepn.bin.make_results has no --compare: $exp/RESULTS.md (${systems[*]}) not written"
    fi
    # the runs of this system with other training seeds (--seed N): mean and spread over them
    local runs=()
    for dir in "$exp/${system}"_seed*/; do
      [ -d "$dir" ] && dir=$(scored_dir "$(basename "$dir")") && runs+=("$(basename "$(dirname "$dir")")=$dir")
    done
    local check_opts=() min_db min_gap
    [ -z "$seed_check" ] || { read -r min_db min_gap <<< "$seed_check"; check_opts=(--min-db "$min_db" --min-gap-db "$min_gap"); }
    [ ${#runs[@]} -eq 0 ] ||
      python -m tsepn.bin.make_results --seeds --out "$exp/RESULTS_seeds_$system.md" "${check_opts[@]}" "${runs[@]}"
  fi

  log "Done (stages $stage..$stop_stage)"
}
