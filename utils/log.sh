#!/usr/bin/env bash
# Logging helpers for recipe scripts: `. utils/log.sh`, then
#   log "Stage 1: data directories"      -> 2026-01-01T12:00:00 (run.sh:42) Stage 1: data directories
#   die "corpus not found"               -> same format on stderr, exit 1

log() {
  local caller=${BASH_SOURCE[1]##*/}
  echo "$(date '+%Y-%m-%dT%H:%M:%S') (${caller}:${BASH_LINENO[0]}) $*" >&2
}

die() {
  local caller=${BASH_SOURCE[1]##*/}
  echo "$(date '+%Y-%m-%dT%H:%M:%S') (${caller}:${BASH_LINENO[0]}) ERROR: $*" >&2
  exit 1
}
