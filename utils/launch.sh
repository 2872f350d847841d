#!/usr/bin/env bash
# Run a command as N parallel jobs, locally or through Slurm (Kaldi run.pl / slurm.pl style).
#
#   utils/launch.sh [options] [JOB=1:N] <log> <command> [args...]
#
# Every occurrence of the job variable (here JOB, as a whole word) in the log
# name and in the command is replaced by the job's number. Each job's output
# goes to its own log, framed by the command, start/end times and exit code.
# The launch fails (exit 1) if any job fails, and names the failed jobs' logs.
#
# An argument without whitespace is passed as it is, so shell syntax survives
# (quote it on your command line: `\|`, `'>'`); an argument with whitespace is
# passed as one word.
#
# Options:
#   --backend local|slurm   where jobs run (default: $TSEPN_BACKEND or local)
#   --max-jobs-run N        at most N jobs at once (local) / array throttle (slurm)
#   Slurm only (ignored locally):
#   --mem SIZE  --gpu N  --time T  --partition P  --cpus N  --slurm-opts "raw sbatch options"
#
# Slurm: writes <log dir>/q/<name>.sh, submits it as one job array with
# `sbatch --wait`, then reads each job's exit code from <log dir>/q/<name>.<id>.status.
set -uo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "launch.sh: $*" >&2; exit 1; }

backend=${TSEPN_BACKEND:-local}
max_jobs_run=0
mem="" gpu="" time_limit="" partition="" cpus="" slurm_opts=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --backend) backend=${2:?}; shift 2 ;;
    --max-jobs-run) max_jobs_run=${2:?}; shift 2 ;;
    --mem) mem=${2:?}; shift 2 ;;
    --gpu) gpu=${2:?}; shift 2 ;;
    --time) time_limit=${2:?}; shift 2 ;;
    --partition) partition=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --slurm-opts) slurm_opts=${2:?}; shift 2 ;;
    --*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
case $backend in local|slurm) ;; *) die "--backend must be local or slurm, got '$backend'" ;; esac
[[ $max_jobs_run =~ ^[0-9]+$ ]] || die "--max-jobs-run must be a number, got '$max_jobs_run'"

jobvar="" first=1 last=1
if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=${BASH_REMATCH[3]}
  [ "$first" -le "$last" ] || die "empty job range $1"
  shift
elif [[ ${1:-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
  die "bad job range '$1' (expected e.g. JOB=1:4)"
fi
[ $# -ge 2 ] || die "need a log file and a command (see --help)"
logfile=$1; shift
if [ -n "$jobvar" ] && [ "$last" -gt "$first" ] && ! [[ $logfile =~ (^|[^A-Za-z0-9_])$jobvar([^A-Za-z0-9_]|$) ]]; then
  die "log name '$logfile' must contain $jobvar when running several jobs"
fi

# The command line as one string, run.pl style.
cmd=""
for arg in "$@"; do
  if [[ $arg =~ ^[^[:space:]]+$ ]]; then
    cmd+="$arg "
  else
    cmd+="'${arg//\'/\'\\\'\'}' "
  fi
done
cmd=${cmd% }

# Replace whole-word occurrences of $2 in $1 by $3.
substitute() {
  local text=$1 var=$2 value=$3 tail=""
  [ -n "$var" ] || { printf '%s' "$text"; return; }
  while [[ $text =~ ^(.*[^A-Za-z0-9_]|)$var([^A-Za-z0-9_].*|)$ ]]; do
    tail="$value${BASH_REMATCH[2]}$tail"
    text=${BASH_REMATCH[1]}
  done
  printf '%s' "$text$tail"
}

# ---------------------------------------------------------------- local ----
run_local_job() {  # id log command
  local id=$1 log=$2 command=$3 started code
  mkdir -p "$(dirname "$log")" || return 1
  { echo "# $command"; echo "# Started at $(date) on $(hostname) (job $id)"; } > "$log"
  started=$(date +%s)
  bash -o pipefail -c "$command" >> "$log" 2>&1 < /dev/null
  code=$?
  echo "# Ended (code $code) at $(date), elapsed time $(( $(date +%s) - started )) seconds" >> "$log"
  return $code
}

report() {  # name of each failed job's log is in failed_logs; codes in failed_codes
  local n=${#failed_logs[@]} total=$(( last - first + 1 ))
  [ "$n" -eq 0 ] && return 0
  for i in "${!failed_logs[@]}"; do
    echo "launch.sh: job failed (${failed_codes[$i]}), see ${failed_logs[$i]}" >&2
  done
  echo "launch.sh: $n of $total job(s) failed: $cmd" >&2
  exit 1
}

failed_logs=() failed_codes=()
if [ "$backend" = local ]; then
  declare -A pids=()
  for ((id = first; id <= last; id++)); do
    if [ "$max_jobs_run" -gt 0 ]; then
      while [ "$(jobs -rp | wc -l)" -ge "$max_jobs_run" ]; do wait -n; done
    fi
    run_local_job "$id" "$(substitute "$logfile" "$jobvar" "$id")" "$(substitute "$cmd" "$jobvar" "$id")" &
    pids[$id]=$!
  done
  for ((id = first; id <= last; id++)); do
    wait "${pids[$id]}"
    code=$?
    if [ "$code" -ne 0 ]; then
      failed_logs+=("$(substitute "$logfile" "$jobvar" "$id")"); failed_codes+=("exit code $code")
    fi
  done
  report
  exit 0
fi

# ---------------------------------------------------------------- slurm ----
command -v sbatch > /dev/null || die "sbatch not found: --backend slurm needs a Slurm client"
log_dir=$(dirname "$logfile")
name=$(basename "$(substitute "$logfile" "$jobvar" "all")"); name=${name%.log}
qdir=$log_dir/q
mkdir -p "$qdir" || die "cannot create $qdir"
script=$qdir/$name.sh
{
  echo "#!/usr/bin/env bash"
  echo "# written by utils/launch.sh for: $cmd"
  echo "cd $(printf '%q' "$PWD") || exit 1"
  echo 'id=${SLURM_ARRAY_TASK_ID:-${1:-'"$first"'}}'
  echo 'case $id in'
  for ((id = first; id <= last; id++)); do
    echo "  $id) log=$(printf '%q' "$(substitute "$logfile" "$jobvar" "$id")");" \
         "command=$(printf '%q' "$(substitute "$cmd" "$jobvar" "$id")") ;;"
  done
  echo '  *) echo "no job $id in this array" >&2; exit 1 ;;'
  echo 'esac'
  echo 'mkdir -p "$(dirname "$log")"'
  echo '{ echo "# $command"; echo "# Started at $(date) on $(hostname) (slurm job ${SLURM_JOB_ID:-?}, task $id)"; } > "$log"'
  echo 'started=$(date +%s)'
  echo 'bash -o pipefail -c "$command" >> "$log" 2>&1 < /dev/null'
  echo 'code=$?'
  echo 'echo "# Ended (code $code) at $(date), elapsed time $(( $(date +%s) - started )) seconds" >> "$log"'
  echo "echo \$code > $(printf '%q' "$qdir/$name").\$id.status"
  echo 'exit $code'
} > "$script" || die "cannot write $script"
chmod +x "$script"
for ((id = first; id <= last; id++)); do rm -f "$qdir/$name.$id.status"; done

array="$first-$last"
[ "$max_jobs_run" -gt 0 ] && array+="%$max_jobs_run"
sbatch_args=(--wait --parsable "--job-name=$name" "--array=$array" "--output=$qdir/$name.%a.out")
[ -n "$mem" ] && sbatch_args+=("--mem=$mem")
[ -n "$gpu" ] && sbatch_args+=("--gres=gpu:$gpu")
[ -n "$time_limit" ] && sbatch_args+=("--time=$time_limit")
[ -n "$partition" ] && sbatch_args+=("--partition=$partition")
[ -n "$cpus" ] && sbatch_args+=("--cpus-per-task=$cpus")
# shellcheck disable=SC2206
[ -n "$slurm_opts" ] && sbatch_args+=($slurm_opts)
sbatch "${sbatch_args[@]}" "$script" > "$qdir/$name.sbatch.out" 2>&1
sbatch_code=$?
for ((id = first; id <= last; id++)); do
  status_file=$qdir/$name.$id.status
  if [ ! -f "$status_file" ]; then
    failed_logs+=("$(substitute "$logfile" "$jobvar" "$id")")
    failed_codes+=("did not finish; sbatch exit code $sbatch_code, see $qdir/$name.sbatch.out and $qdir/$name.$id.out")
  elif [ "$(cat "$status_file")" != 0 ]; then
    failed_logs+=("$(substitute "$logfile" "$jobvar" "$id")"); failed_codes+=("exit code $(cat "$status_file")")
  fi
done
report
exit 0
