#!/usr/bin/env bash
# utils/launch.sh with the Slurm backend; same arguments (see utils/launch.sh --help), e.g.
#   utils/slurm.sh --gpu 1 --mem 16G --time 24:00:00 JOB=1:4 exp/log/decode.JOB.log python -m ... --part JOB
exec "$(dirname "$0")/launch.sh" --backend slurm "$@"
