"""List the systems of a recipe: paper, parameter count (built in a dry run), latency, what each is fed.

    tsepn-systems [--conf-dir egs/librispeech_wham/mono/conf/systems] [--markdown] [--no-build]

A system is a folder `conf/systems/<name>/` of training configs `<stage>_<step>.yaml`
(see the recipes' `--system`); its model is the one of the last config. The model is
built from that config (nothing trained, no data read) to count its parameters, so a
`<name>_paper` system gives the paper-size count. "trained on" is the last step's
`task.inputs` (model input <- batch field); decoding (recipe stage 7) feeds `mix`, the
noisy positive enrollment `pos` (or what the system's `decode.yaml` names as `enrollment`,
e.g. `pos_clean`) and, for models that take it, the negative `neg`; a model that needs more
(the oracle-pitch MBRNN: the true f0 track) is not decoded by stage 7. "latency" comes from
tsepn.models.baselines.SYSTEM_INFO. README's system table lists the same (tested).
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

log = logging.getLogger("tsepn.systems")

STEP_CONFIG = re.compile(r"^[0-9]_.+\.yaml$")
PLACEHOLDERS = {"data": "data", "simulate_config": "conf/simulate.yaml"}


@dataclass
class SystemRow:
    name: str
    steps: List[str]
    model: str
    paper: str
    params: Optional[int]
    causal: Optional[bool]
    latency: str
    trained_on: str
    decoded_with: str
    description: str


def default_conf_dir() -> Path:
    here = Path("conf/systems")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "egs" / "librispeech_wham" / "mono" / "conf" / "systems"


def step_configs(system_dir: Path) -> List[Path]:
    return sorted(p for p in system_dir.iterdir() if STEP_CONFIG.match(p.name))


def first_comment(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def describe(system_dir: Path, build: bool = True) -> Optional[SystemRow]:
    """One system's row (None for a folder without step configs). Errors name the config."""
    from tsepn.models.baselines import SYSTEM_INFO
    from tsepn.train import model_io
    from tsepn.train.schema import load_train_config

    configs = step_configs(system_dir)
    if not configs:
        return None
    last = configs[-1]
    variables = dict(PLACEHOLDERS, exp=f"exp/{system_dir.name}")
    cfg = load_train_config(last, variables=variables)
    params = causal = None
    takes: tuple = ()
    info = SYSTEM_INFO.get(cfg.model.name, {})
    if build:
        try:
            model = model_io.build_model(cfg.model.name, **cfg.model.args)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{last}: model: cannot build {cfg.model.name!r} with model.args: {err}") from None
        params = sum(p.numel() for p in model.parameters())
        takes = tuple(getattr(model, "inputs", ("mix", "pos", "neg")))
    causal = info.get("causal")
    inputs = cfg.task.inputs if cfg.task.inputs is not None else {name: name for name in takes}
    trained_on = ", ".join(f"{k}<-{v}" if k != v else k for k, v in inputs.items())
    decoded = [n for n in ("mix", "pos", "neg") if n in (takes or tuple(inputs))]
    # inputs stage 7 does not give (beyond mix/pos/neg it gives SIDE_INPUTS from the set)
    from tsepn.bin.decode import SIDE_INPUTS

    extra = [n for n in (takes or tuple(inputs)) if n not in ("mix", "pos", "neg", *SIDE_INPUTS)]
    decode_conf = system_dir / "decode.yaml"
    if decode_conf.is_file() and "pos" in decoded:
        from tsepn.config import load_yaml

        enrollment = (load_yaml(decode_conf) or {}).get("enrollment", "pos")
        if enrollment != "pos":
            decoded[decoded.index("pos")] = f"pos<-{enrollment}"
    return SystemRow(name=system_dir.name, steps=[p.stem for p in configs], model=cfg.model.name,
                     paper=info.get("paper", ""), params=params, causal=causal, latency=info.get("latency", "?"),
                     trained_on=trained_on, description=first_comment(last),
                     decoded_with=f"not by stage 7 (needs {', '.join(extra)})" if extra else ", ".join(decoded)
                     + (", candidates (the set's, else windows of pos)" if "candidates" in takes else "")
                     + (", pitch (the true track)" if "pitch" in takes else ""))


def systems(conf_dir: Path, build: bool = True) -> List[SystemRow]:
    if not conf_dir.is_dir():
        raise FileNotFoundError(f"{conf_dir}: no such folder of systems (give --conf-dir)")
    rows = []
    for folder in sorted(p for p in conf_dir.iterdir() if p.is_dir()):
        row = describe(folder, build)
        if row is not None:
            rows.append(row)
    return rows


def format_params(n: Optional[int]) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} M" if n >= 10_000 else str(n)


def table(rows: List[SystemRow], markdown: bool) -> str:
    header = ["system", "steps", "model", "params", "latency", "trained on", "decoded with", "paper"]
    body = [[r.name, " ".join(r.steps), r.model, format_params(r.params), r.latency, r.trained_on, r.decoded_with,
             r.paper] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*cells).rstrip() for cells in [header] + body)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf-dir", type=Path, default=None,
                        help="a recipe's conf/systems (default: ./conf/systems, else the monaural recipe's)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    parser.add_argument("--no-build", action="store_true", help="do not build the models (no parameter counts)")
    parser.add_argument("--descriptions", action="store_true", help="also each system's description")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from tsepn.config import ConfigError

    try:
        rows = systems(args.conf_dir or default_conf_dir(), build=not args.no_build)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        log.error("%s", err)
        return 1
    print(table(rows, args.markdown))
    if args.descriptions:
        print()
        for row in rows:
            print(f"{row.name}: {row.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
