#!/usr/bin/env bash
# Split a Kaldi list (scp, utt2spk, ...) into N contiguous parts of near-equal size.
#
#   utils/split_scp.sh in.scp out.1.scp out.2.scp ... out.N.scp
#   utils/split_scp.sh --nj N in.scp out_dir       (writes out_dir/1/<name> ... out_dir/N/<name>)
#
# Line order is kept; the first (lines mod N) parts get one extra line. Fewer
# lines than parts is an error (a job with nothing to do hides mistakes).
set -euo pipefail

die() { echo "split_scp.sh: $*" >&2; exit 1; }
nj=""
if [ "${1:-}" = --nj ]; then
  nj=${2:-}; shift 2 || die "--nj needs a number"
  [[ $nj =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive number, got '$nj'"
  [ $# -eq 2 ] || die "usage: split_scp.sh --nj N in.scp out_dir"
  in=$1; name=$(basename "$in"); outs=()
  for ((i = 1; i <= nj; i++)); do outs+=("$2/$i/$name"); done
else
  [ $# -ge 2 ] || die "usage: split_scp.sh in.scp out.1 ... out.N   or   split_scp.sh --nj N in.scp out_dir"
  in=$1; shift; outs=("$@")
fi
[ -f "$in" ] || die "$in: no such file"
n_lines=$(wc -l < "$in")
n_parts=${#outs[@]}
[ "$n_lines" -ge "$n_parts" ] || die "$in: $n_lines line(s), cannot split into $n_parts parts"
for out in "${outs[@]}"; do mkdir -p "$(dirname "$out")"; done
# Part sizes: base, plus one for the first (n_lines % n_parts) parts. Written to
# temporary names and renamed, so a failed split leaves no partial outputs.
printf '%s\n' "${outs[@]}" | awk -v total="$n_lines" -v parts="$n_parts" -v input="$in" '
  { out[NR] = $0 }
  END {
    base = int(total / parts); extra = total % parts; part = 1; left = base + (part <= extra)
    while ((getline line < input) > 0) {
      while (left == 0) { close(out[part] ".tmp"); part++; left = base + (part <= extra) }
      print line > (out[part] ".tmp"); left--
    }
    close(out[part] ".tmp")
  }'
for out in "${outs[@]}"; do mv -f "$out.tmp" "$out"; done
