"""Run a trained extractor over a test set: enhanced audio plus est.scp.

    python -m tsepn.bin.decode --checkpoint exp/x/model.pt --set-dir data/test_m2e2 \
        --out-dir exp/x/decode_test_m2e2 [--config conf/decode.yaml] [--nj 4 --job 2]
    python -m tsepn.bin.decode --merge --out-dir exp/x/decode_test_m2e2 --nj 4 [--set-dir ...]

Inputs: `mix.scp`, `pos.scp`, `neg.scp` of a set directory (or --mix/--pos/--neg); a model
that takes more (`side_inputs`: refsel's rendered candidate references, an oracle-pitch
model's true f0 track) gets them from the set directory.
Outputs: DIR/audio/<key>.wav (float32; or .flac, 24-bit) and DIR/est.scp; with
--nj N each job J (1-based) takes the J-th contiguous split of the sorted keys
and writes DIR/est.J.scp, and `--merge` joins those into DIR/est.scp.

Re-running is safe and resumes: an example whose audio file exists is not
decoded again (files are written atomically, so an existing file is whole).
DIR/decode_info.json records the checkpoint (with its sha256) and the decode
settings; resuming with a different checkpoint or settings is an error unless
--overwrite is given. The chunk size comes from the decode config: the whole
mixture in one call by default (like the paper's evaluation), or
`chunk_seconds` for streaming with the model state carried across chunks.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from tsepn.progress import progress

from tsepn.allocator import retain_freed_memory
from tsepn.audio import read_audio, write_audio
from tsepn.scoring.scorer import check_keys
from tsepn.config import ConfigError, load_config
from tsepn.fileio import read_table, write_table, write_text_atomic

log = logging.getLogger("tsepn.decode")

AUDIO_FORMATS = {"wav": "FLOAT", "flac": "PCM_24"}


class DecodeError(ValueError):
    """Bad decoding input or a resume that would mix incompatible outputs."""


@dataclass
class DecodeConfig:
    """conf/decode.yaml. chunk_seconds: None = the whole mixture in one call."""

    chunk_seconds: Optional[float] = None
    audio_format: str = "wav"
    device: str = "cpu"
    # the set's table the positive enrollment is read from: pos (the noisy positive
    # enrollment) or pos_clean (the target alone: a clean-enrollment system's upper bound)
    enrollment: str = "pos"


ENROLLMENTS = ("pos", "pos_clean")


def split_keys(keys: Sequence[str], nj: int, job: int) -> List[str]:
    """The job-th (1-based) of nj contiguous splits of the sorted keys (sizes differ by <= 1)."""
    if nj < 1 or not 1 <= job <= nj:
        raise DecodeError(f"--job must be in 1..{nj}, got {job}")
    keys = sorted(keys)
    base, extra = divmod(len(keys), nj)
    start = (job - 1) * base + min(job - 1, extra)
    return keys[start : start + base + (1 if job <= extra else 0)]


def input_lists(args, enrollment: str = "pos") -> Dict[str, Dict[str, str]]:
    """{"mix","pos","neg"} -> scp table, keys checked to match; with --set-dir, "pos" is the
    set's `<enrollment>.scp` (DecodeConfig.enrollment)."""
    if enrollment not in ENROLLMENTS:
        raise ConfigError(f"enrollment must be one of {', '.join(ENROLLMENTS)}, got {enrollment!r}")
    if args.set_dir:
        files = {"mix": "mix", "pos": enrollment, "neg": "neg"}
        paths = {role: str(Path(args.set_dir) / f"{name}.scp") for role, name in files.items()}
    else:
        paths = {"mix": args.mix, "pos": args.pos, "neg": args.neg}
        missing = [f"--{role}" for role, path in paths.items() if not path]
        if missing:
            raise DecodeError(f"give --set-dir or all of --mix --pos --neg (missing {', '.join(missing)})")
    tables = {role: read_table(path) for role, path in paths.items()}
    for role in ("pos", "neg"):
        check_keys(tables["mix"], tables[role], paths["mix"], paths[role])
    return tables


SIDE_INPUTS = ("candidates", "pitch")


def side_inputs(model, set_dir: Optional[str]) -> Callable[[str], Dict[str, np.ndarray]]:
    """key -> the inputs beyond mix/pos/neg the model declares (`model.inputs`), from the set:
    - `candidates` (reference selection): the spec's candidate references rendered (the donor
      example's spec in a `<set>_wrong_enroll` control); none where the set's specs have no
      candidate list, and the model then cuts windows of pos;
    - `pitch` (an oracle-pitch model): the true f0 track of the enrollment's speaker
      (tsepn.data.pitch.enrollment_tracks; the labels are computed once and stored in the set)."""
    wanted = [name for name in getattr(model, "inputs", ()) if name not in ("mix", "pos", "neg")]
    unknown = [name for name in wanted if name not in SIDE_INPUTS]
    if unknown:
        raise DecodeError(f"the model takes {', '.join(unknown)}, which decoding cannot give (it gives "
                          f"mix, pos, neg and, from a set directory, {', '.join(SIDE_INPUTS)})")
    if wanted and not set_dir:
        raise DecodeError(f"the model takes {', '.join(wanted)}: decode it from a --set-dir")
    getters = []
    if "candidates" in wanted:
        from tsepn.data.dataset import ScpDataset
        from tsepn.data.render import Renderer

        specs, renderer = ScpDataset(set_dir), Renderer()

        def candidates(key: str) -> Dict[str, np.ndarray]:
            spec = specs.enroll_spec(key)
            return {"candidates": renderer.render_candidates(spec)} if spec and spec.get("candidates") else {}

        getters.append(candidates)
    if "pitch" in wanted:
        from tsepn.data.pitch import enrollment_tracks

        tracks = enrollment_tracks(set_dir, model.hop, model.sample_rate)
        getters.append(lambda key: {"pitch": tracks[key]})
    return lambda key: {name: value for get in getters for name, value in get(key).items()}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_resume(out_dir: Path, info: dict, overwrite: bool) -> None:
    """Refuse to add outputs of a different model/settings to an existing directory."""
    path = out_dir / "decode_info.json"
    if overwrite or not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    fields = ("checkpoint_sha256", "arch", "config")
    changed = [f for f in fields if old.get(f) != info.get(f)]
    if changed:
        raise DecodeError(
            f"{path}: outputs in {out_dir} were made with a different {', '.join(changed)}; "
            "use another --out-dir or --overwrite"
        )


def decode(args, config: DecodeConfig, argv: Sequence[str]) -> Path:
    from tsepn.infer import Extractor

    if config.audio_format not in AUDIO_FORMATS:
        raise ConfigError(f"audio_format must be one of {', '.join(AUDIO_FORMATS)}, got {config.audio_format!r}")
    tables = input_lists(args, config.enrollment)
    keys = split_keys(list(tables["mix"]), args.nj, args.job)
    out_dir = Path(args.out_dir)
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise DecodeError(f"{checkpoint}: checkpoint not found")
    info = {
        "command": shlex.join(["python", "-m", "tsepn.bin.decode", *argv]),
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": sha256_of(checkpoint),
        "arch": args.arch,
        "config": asdict(config),
    }
    check_resume(out_dir, info, args.overwrite)
    write_text_atomic(out_dir / "decode_info.json", json.dumps(info, indent=2) + "\n")

    extractor = Extractor.from_checkpoint(checkpoint, arch=args.arch, device=config.device, chunk_seconds=config.chunk_seconds)
    rate = extractor.sample_rate
    audio_dir = out_dir / "audio"
    suffix, subtype = config.audio_format, AUDIO_FORMATS[config.audio_format]
    side = side_inputs(extractor.model, args.set_dir)
    entries = []
    skipped = clipped = rendered = 0
    model_seconds = audio_seconds = 0.0
    for key in progress(keys, desc=f"decode job {args.job}/{args.nj}", unit="utt"):
        if "/" in key or key.startswith("."):
            raise DecodeError(f"{key!r}: an example key cannot be used as a file name")
        path = audio_dir / f"{key}.{suffix}"
        entries.append((key, str(path)))
        if path.is_file() and not args.overwrite:
            skipped += 1
            continue
        mix, _ = read_audio(tables["mix"][key], sample_rate=rate, strict=True)
        pos, _ = read_audio(tables["pos"][key], sample_rate=rate, strict=True)
        neg, _ = read_audio(tables["neg"][key], sample_rate=rate, strict=True)
        extra = side(key)
        rendered += "candidates" in extra
        start = time.perf_counter()
        try:
            out = extractor(mix, pos, neg, extra)
        except (ValueError, RuntimeError) as err:  # input the model cannot take, or a chunk size it refuses
            raise DecodeError(f"{key}: {err}") from None
        model_seconds += time.perf_counter() - start
        audio_seconds += mix.shape[-1] / rate
        if suffix == "flac" and np.max(np.abs(out)) > 1.0:
            clipped += 1
            out = np.clip(out, -1.0, 1.0)
        write_audio(path, out, rate, subtype=subtype)

    scp = out_dir / ("est.scp" if args.nj == 1 else f"est.{args.job}.scp")
    write_table(scp, entries)
    if skipped:
        log.info("%d of %d example(s) already decoded, skipped", skipped, len(keys))
    if "candidates" in getattr(extractor.model, "inputs", ()):
        log.info("candidate references: the set's rendered ones for %d example(s), windows of pos for %d",
                 rendered, len(keys) - skipped - rendered)
    if clipped:
        log.warning("%d output(s) exceeded full scale and were clipped for flac; use audio_format: wav", clipped)
    if audio_seconds > 0:
        log.info(
            "real-time factor %.4f (%.2f s model time for %.2f s of mixture, chunk %s)",
            model_seconds / audio_seconds,
            model_seconds,
            audio_seconds,
            f"{config.chunk_seconds} s" if config.chunk_seconds else "whole signal",
        )
    log.info("wrote %s (%d entries)", scp, len(entries))
    return scp


def merge(args) -> Path:
    """Join DIR/est.{1..N}.scp into DIR/est.scp; every split must be present."""
    out_dir = Path(args.out_dir)
    parts = [out_dir / f"est.{j}.scp" for j in range(1, args.nj + 1)]
    if args.nj == 1 and not parts[0].is_file() and (out_dir / "est.scp").is_file():
        parts = [out_dir / "est.scp"]  # a single job writes est.scp itself: only the key check is left
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise DecodeError(f"cannot merge, missing split(s): {', '.join(missing)}")
    merged: Dict[str, str] = {}
    for part in parts:
        for key, value in read_table(part).items():
            if key in merged:
                raise DecodeError(f"{part}: key {key!r} appears in two splits")
            merged[key] = value
    if args.set_dir or args.mix:
        check_keys(input_lists(args)["mix"], merged, "the decoded set's mix.scp", str(out_dir / "est.*.scp"))
    scp = out_dir / "est.scp"
    write_table(scp, merged.items())
    log.info("merged %d splits into %s (%d entries)", len(parts), scp, len(merged))
    return scp


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tsepn-decode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="tsepn checkpoint, or the authors' file with --arch")
    p.add_argument("--arch", help="architecture name for checkpoints without tsepn metadata")
    p.add_argument("--config", help="decode YAML (chunk_seconds, audio_format, device)")
    p.add_argument("--set-dir", help="directory holding mix.scp, pos.scp, neg.scp")
    p.add_argument("--mix")
    p.add_argument("--pos")
    p.add_argument("--neg")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--nj", type=int, default=1, help="number of splits")
    p.add_argument("--job", type=int, default=1, help="which split this process decodes (1-based)")
    p.add_argument("--chunk-seconds", type=float, help="override the config's chunk_seconds")
    p.add_argument("--audio-format", choices=sorted(AUDIO_FORMATS), help="override the config's audio_format")
    p.add_argument("--device", help="override the config's device")
    p.add_argument("--overwrite", action="store_true", help="decode everything again")
    p.add_argument("--merge", action="store_true", help="join est.{1..nj}.scp into est.scp and exit")
    return p.parse_args(argv)


def load_decode_config(args) -> DecodeConfig:
    overrides = []
    if args.chunk_seconds is not None:
        overrides.append(f"chunk_seconds={args.chunk_seconds}")
    if args.audio_format:
        overrides.append(f"audio_format={args.audio_format}")
    if args.device:
        overrides.append(f"device={args.device}")
    return load_config(DecodeConfig, args.config, overrides)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    retain_freed_memory()  # every example's call allocates its activations again (tsepn.allocator)
    try:
        if args.merge:
            merge(args)
        else:
            if not args.checkpoint:
                raise DecodeError("--checkpoint is required")
            decode(args, load_decode_config(args), argv)
    except (DecodeError, ConfigError, ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
