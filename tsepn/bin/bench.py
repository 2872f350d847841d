"""`tsepn-bench <what> [options]`: dispatch to a benchmark module.

    tsepn-bench render ...   data pipeline (tsepn.bench.render)
    tsepn-bench model ...    model speed (tsepn.bench.model)
    tsepn-bench export ...   per-chunk latency, PyTorch vs ONNX Runtime (tsepn.bench.export)
    tsepn-bench longform ... peak memory and real-time factor on long files (tsepn.bench.longform)
    tsepn-bench demo ...     the demo's training stages: s/example, projected time vs budget (tsepn.bench.demo)

Each benchmark prints informative lines and, last, `name value` lines.
"""
from __future__ import annotations

import importlib
import sys

BENCHMARKS = {"render": "tsepn.bench.render", "model": "tsepn.bench.model", "demo": "tsepn.bench.demo",
              "export": "tsepn.bench.export", "longform": "tsepn.bench.longform"}


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHMARKS:
        print(__doc__.strip(), file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            sys.exit(f"tsepn-bench: unknown benchmark {argv[0]!r}; known: {', '.join(BENCHMARKS)}")
        sys.exit(0 if argv else 2)
    module = importlib.import_module(BENCHMARKS[argv[0]])  # imported lazily: one benchmark's deps only
    module.main(argv[1:])


if __name__ == "__main__":
    main()
