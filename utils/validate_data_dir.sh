#!/usr/bin/env bash
# Validate Kaldi data directories (see tsepn/bin/validate_data_dir.py --help).
#   utils/validate_data_dir.sh [--check-audio] [--no-check-files] data/train data/noise_tr ...
set -euo pipefail
python=${TSEPN_PYTHON:-$(command -v python || command -v python3)}
exec "$python" -m tsepn.bin.validate_data_dir "$@"
