"""Rendered example sets on disk: render a list of specs into a set directory, and
derive the wrong-enrollment control sets.

A set directory (docs/contracts.md, "Rendered example sets") is built under a
temporary name beside its final one (`.<name>.tmp`) and renamed into place only
when complete, with a `.done` marker inside: an interrupted run leaves nothing
under the final name, and a re-run starts the temporary directory afresh.

Transcripts (for WER): `target_cover` says for every example how the target's
utterances sit in the mixture: `whole` (its stretch is exactly the listed trimmed
utterances, each once and complete), `cut` (it starts or ends inside an utterance),
`repeated` (the utterance stream ran out and starts again) or `absent` (a
target-absent example). `text` holds the corpus transcript (the speech data dir's
`text`, utterances joined in order) for the `whole` examples only: for the others no
transcript says exactly which words are spoken, so WER there is computed against the
ASR of the clean reference instead (tsepn-score --wer-reference, docs/scoring.md).
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from tsepn.audio import write_audio
from tsepn.data.scenario import SpecError, read_specs, spec_line
from tsepn.fileio import iter_table, read_table, write_table, write_text_atomic

log = logging.getLogger(__name__)

SIGNALS = ("mix", "ref", "pos", "neg", "pos_clean")
DONE = ".done"
CHUNK = 32  # examples per rendering task (and per ark file): fixed, so output does not depend on --nj


class SetError(ValueError):
    """A set directory that cannot be built; the message names the path."""


def fingerprint(obj: Any) -> str:
    """Short stable hash of a JSON-able object (what a set was made from)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def is_done(set_dir: Path, fp: Optional[str] = None) -> bool:
    """True when `set_dir` is complete (and, if `fp` is given, made from the same inputs)."""
    marker = Path(set_dir) / DONE
    if not marker.is_file():
        return False
    if fp is None:
        return True
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fp
    except json.JSONDecodeError:
        return False


# --------------------------------------------------------------------------- atomic set directories


def _temporary_dir(out_dir: Path) -> Path:
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    if tmp.exists():
        log.info("removing the leftovers of an interrupted run: %s", tmp)
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, out_dir: Path, info: Dict[str, Any]) -> None:
    """Mark `tmp` complete and swap it in as `out_dir` (replacing an older one)."""
    write_text_atomic(tmp / DONE, json.dumps(info, sort_keys=True) + "\n")
    old = out_dir.parent / f".{out_dir.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old.exists():
        shutil.rmtree(old)


# --------------------------------------------------------------------------- rendering a set

_renderer = None
_transcripts: Dict[str, Dict[str, str]] = {}


def _corpus_transcripts(speech_dir: str) -> Dict[str, str]:
    """The speech data dir's `text` ({} when it has none), read once per process."""
    if speech_dir not in _transcripts:
        path = Path(speech_dir) / "text"  # a key alone = an utterance without words (Kaldi allows it)
        _transcripts[speech_dir] = ({f[0]: " ".join(f[1:]) for _, f in iter_table(path, min_fields=1)}
                                    if path.is_file() else {})
    return _transcripts[speech_dir]


def target_cover(placement: Optional[Dict[str, Any]], lengths: Dict[str, int]) -> str:
    """How a target placement covers its utterances: whole | cut | repeated | absent.

    `lengths`: trimmed length (samples) of each utterance id. The placed stretch is
    stream[offset : offset + length] of the utterances concatenated (repeating)."""
    if placement is None:
        return "absent"
    total = sum(lengths[u] for u in placement["utts"])
    end = placement["offset"] + placement["length"]
    if end > total:
        return "repeated"
    if placement["offset"] == 0 and end == total:
        return "whole"
    return "cut"


def target_transcript(spec: Dict[str, Any], lengths: Dict[str, int], texts: Dict[str, str]) -> Tuple[str, Optional[str]]:
    """(cover, transcript): the exact words of the target in the mixture when its cover is
    `whole` and the corpus has a transcript for each of its utterances, else None."""
    placement = spec["sources"][0]["mix"]
    cover = target_cover(placement, lengths)
    if cover != "whole" or any(u not in texts for u in placement["utts"]):
        return cover, None
    words = " ".join(texts[u] for u in placement["utts"]).split()
    return cover, (" ".join(words) if words else None)


def _worker_renderer():
    global _renderer
    if _renderer is None:
        from tsepn.data.render import Renderer

        _renderer = Renderer()
    return _renderer


def _render_chunk(task) -> Dict[str, List[Tuple[str, str]]]:
    """Render and write one chunk of specs; returns its table rows."""
    index, specs, tmp, final, audio_format = task
    renderer = _worker_renderer()
    rows: Dict[str, List[Tuple[str, str]]] = {name: [] for name in SIGNALS + ("pos_segments", "neg_segments", "text",
                                                                               "target_cover")}
    arks = {}
    try:
        if audio_format == "ark":
            (Path(tmp) / "audio").mkdir(exist_ok=True)
            arks = {name: open(Path(tmp) / "audio" / f"{name}.{index:05d}.ark", "wb") for name in SIGNALS}
        for spec in specs:
            out = renderer.render(spec)
            for name in SIGNALS:
                signal = getattr(out, name)
                if audio_format == "ark":
                    offset = _write_ark(arks[name], spec["id"], signal, spec["sample_rate"])
                    rows[name].append((spec["id"], f"{final}/audio/{name}.{index:05d}.ark:{offset}"))
                else:
                    rel = f"audio/{name}/{spec['id']}.flac"
                    write_audio(Path(tmp) / rel, signal, spec["sample_rate"], subtype="PCM_16")
                    rows[name].append((spec["id"], f"{final}/{rel}"))
            for rec in ("pos", "neg"):
                rows[f"{rec}_segments"] += [(spec["id"], f"{src} {s:.3f} {e:.3f}") for src, s, e in out.segments[rec]]
            pool = renderer.speech_pool(spec)
            placement = spec["sources"][0]["mix"]
            lengths = {u: pool.utts[u].length for u in (placement["utts"] if placement else [])}
            cover, words = target_transcript(spec, lengths, _corpus_transcripts(spec["speech_dir"]))
            rows["target_cover"].append((spec["id"], cover))
            if words:
                rows["text"].append((spec["id"], words))
    finally:
        for handle in arks.values():
            handle.close()
    return rows


def _write_ark(handle, key: str, signal: np.ndarray, sample_rate: int) -> int:
    """Append one int16 wav entry (kaldiio's audio ark); returns the offset its scp line needs."""
    import kaldiio

    pcm = np.clip(np.round(signal.T * 32767.0), -32768, 32767).astype(np.int16)
    start = handle.tell()
    kaldiio.save_ark(handle, {key: (sample_rate, pcm)})
    return start + len(key) + 1


def render_set(specs: Sequence[Dict[str, Any]], out_dir, audio_format: str = "flac", nj: int = 1,
               info: Optional[Dict[str, Any]] = None, progress: bool = True) -> Path:
    """Render `specs` into the set directory `out_dir` atomically (see the module docstring)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if audio_format not in ("flac", "ark"):
        raise SetError(f"{out_dir}: audio format must be flac or ark, got {audio_format!r}")
    if not specs:
        raise SetError(f"{out_dir}: no example to render")
    _check_unique_ids(specs, out_dir)
    tmp = _temporary_dir(out_dir)
    with open(tmp / "scenarios.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(spec_line(s) for s in specs)
    tasks = [(k, list(specs[i : i + CHUNK]), str(tmp), str(out_dir), audio_format)
             for k, i in enumerate(range(0, len(specs), CHUNK))]
    tables: Dict[str, List[Tuple[str, str]]] = {}
    with tqdm(total=len(specs), desc=f"render {out_dir.name}", unit="ex", disable=not progress) as bar:
        for rows in _map(_render_chunk, tasks, nj):
            for name, value in rows.items():
                tables.setdefault(name, []).extend(value)
            bar.update(len(rows["mix"]))
    for name, rows in tables.items():
        write_table(tmp / (f"{name}.scp" if name in SIGNALS else name), rows)
    write_table(tmp / "utt2spk", [(s["id"], s["target_speaker"]) for s in specs])
    write_table(tmp / "utt2cond", [(s["id"], s["condition"]) for s in specs])
    _publish(tmp, out_dir, dict(info or {}, examples=len(specs), audio_format=audio_format))
    log.info("%s: %d examples", out_dir, len(specs))
    return out_dir


def _check_unique_ids(specs, out_dir) -> None:
    seen = set()
    for spec in specs:
        if spec["id"] in seen:
            raise SpecError(f"{out_dir}: example id {spec['id']!r} appears twice")
        seen.add(spec["id"])


def _map(fn, tasks: List, nj: int) -> Iterable:
    """Ordered map, in worker processes when nj > 1."""
    if nj <= 1 or len(tasks) <= 1:
        yield from map(fn, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(min(nj, len(tasks))) as pool:
        yield from pool.imap(fn, tasks)


def render_scenarios_file(scenarios, out_dir, audio_format: str = "flac", nj: int = 1, progress: bool = True) -> Path:
    """Render a scenarios.jsonl (every line checked first) into `out_dir`."""
    specs = list(read_specs(scenarios))
    return render_set(specs, out_dir, audio_format, nj, info={"scenarios": fingerprint(specs)}, progress=progress)


# --------------------------------------------------------------------------- wrong-enrollment controls


def wrong_enroll_donors(ids: List[str], speakers: List[str], where: str = "<set>") -> List[int]:
    """For each example, the index of the next example (cyclically) whose target is someone else."""
    n = len(ids)
    donors = []
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            if speakers[j] != speakers[i]:
                donors.append(j)
                break
        else:
            raise SetError(f"{where}: every example has target {speakers[i]!r}: no wrong enrollment exists")
    return donors


def make_wrong_enroll(src_dir, out_dir, info: Optional[Dict[str, Any]] = None) -> Path:
    """`out_dir`: each example of `src_dir` with the enrollments (pos, neg, pos_clean and their
    segments) of the next example whose target is a different speaker. Audio is not copied:
    the scp lines point into `src_dir`. `enroll_from` names the donor, `utt2enrollspk` its target."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not is_done(src_dir):
        raise SetError(f"{src_dir}: not a complete rendered set (no {DONE})")
    ids, speakers = [], []
    for spec in read_specs(src_dir / "scenarios.jsonl"):
        ids.append(spec["id"])
        speakers.append(spec["target_speaker"])
    donors = wrong_enroll_donors(ids, speakers, str(src_dir))
    donor_of = {ids[i]: ids[j] for i, j in enumerate(donors)}
    tmp = _temporary_dir(out_dir)
    for name in SIGNALS:
        table = read_table(src_dir / f"{name}.scp")
        own = name in ("mix", "ref")
        write_table(tmp / f"{name}.scp", [(k, table[k if own else donor_of[k]]) for k in ids])
    for name in ("pos_segments", "neg_segments"):
        by_key: Dict[str, List[str]] = {}
        for _, fields in iter_table(src_dir / name, min_fields=4, max_fields=4):
            by_key.setdefault(fields[0], []).append(" ".join(fields[1:]))
        write_table(tmp / name, [(k, row) for k in ids for row in by_key.get(donor_of[k], [])])
    for name in ("text", "target_cover"):  # the mixture (and so its words) is the example's own
        if (src_dir / name).is_file():
            write_table(tmp / name, read_table(src_dir / name).items())
    target = dict(zip(ids, speakers))
    cond = read_table(src_dir / "utt2cond")
    write_table(tmp / "utt2spk", [(k, target[k]) for k in ids])
    write_table(tmp / "utt2cond", [(k, cond[k]) for k in ids])
    write_table(tmp / "enroll_from", list(donor_of.items()))
    write_table(tmp / "utt2enrollspk", [(k, target[donor_of[k]]) for k in ids])
    _publish(tmp, out_dir, dict(info or {}, examples=len(ids), source=str(src_dir)))
    log.info("%s: %d examples with the enrollments of another target", out_dir, len(ids))
    return out_dir
