# Environment of a recipe (each recipe's path.sh links here; sourced by the stage script):
# the repository's Python environment and tools. TSEPN_ROOT may be set to use another checkout.
TSEPN_ROOT=${TSEPN_ROOT:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)}
export TSEPN_ROOT
if [ -f "$TSEPN_ROOT/tools/venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$TSEPN_ROOT/tools/venv/bin/activate"
else
  echo "path.sh: $TSEPN_ROOT/tools/venv not found; run: bash $TSEPN_ROOT/tools/setup_venv.sh" >&2
fi
export PATH=$TSEPN_ROOT/utils:$PATH
export PYTHONPATH=$TSEPN_ROOT${PYTHONPATH:+:$PYTHONPATH}
export TSEPN_PYTHON=${TSEPN_PYTHON:-python}
export LC_ALL=C
export PYTHONUNBUFFERED=1
# OpenMP threads that spin while waiting slow torch down badly when cores are shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
