"""`python -m tsepn.bench_model` = `tsepn-bench model` (kept for ../shared/bench/side_by_side.sh).

The benchmark lives in tsepn.bench.model; importing it first keeps its OMP_WAIT_POLICY
default ahead of the torch import.
"""
from tsepn.bench.model import main

if __name__ == "__main__":
    raise SystemExit(main())
