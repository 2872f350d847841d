"""Binaural room impulse responses (BRIRs): preparation of the paper's four sets and reading them back.

The binaural recipe places every source of an example with a response of one BRIR *scene*
(one listener in one room: a CIPIC subject, an RRBRIR room, an ASH room, a CATT reverberation
time). Preparation (`python -m tsepn.bin.prepare_brirs`, recipe stage 1) reads the sets in
their published layouts (tsepn.data.corpora.BRIR_SETS):

    CIPIC/subject_NNN.sofa                         SOFA (Data.IR [M, 2, N]), one scene per subject
    RRBRIR/*.sofa                                  SOFA, one scene per room
    ASH-Listening-Set-8.0/BRIRs/<room>/*_A<az>.wav stereo wav, one scene per room folder (R01 ...) and
                                                   listener variant (BRIR_R01_C1_E0_A<az>.wav and
                                                   BRIR_R01_P1_E0_A<az>.wav: two scenes, each with
                                                   its own facing response); the room's
                                                   non-directional *_True_Stereo.wav is skipped
    CATT_RIRs/Binaural/16k/<rt60>/*_<az>.wav       stereo wav at 16 kHz, one scene per folder (0_0s ...)

and writes, per split, a Kaldi-style folder `data/brir_{train,dev,test}/`:

    brir.scp      <brir-id> <responses/<scene>.npy>:<m>   (float32 [M, 2, T] per scene, 16 kHz)
    brir2dir      <brir-id> <azimuth_deg> <elevation_deg>
    brir2scene    <brir-id> <scene-id>
    scene2set     <scene-id> <cipic|rrbrir|ash|catt>
    scene2face    <scene-id> <brir-id of the facing (0 degree) response>
    info.json     what was prepared from where (sets, counts, sample rate, split rules)

Directions: azimuth in degrees wrapped to (-180, 180], elevation in degrees. SOFA files give
them in SourcePosition (spherical; SOFA's convention: azimuth counter-clockwise from the
front, so +90 is the left); wav sets give the azimuth in the file name (ASH `_A<az>`, CATT
`_<az>` before `.wav`; their sign is taken as written) and elevation 0 (ASH `_E<el>` when
present). The facing response of a scene is the one nearest to azimuth 0, elevation 0
(|az| + |el|, ties by id); a scene without one within FACE_TOLERANCE_DEG is an error.
The authors' loaders use the same responses: CIPIC measurement 608 (azimuth 0, elevation 0),
RRBRIR measurement 18 (0 of -90..90), the ASH file ending `A0.wav`, the CATT file `_0.wav`.

Split rules (SPLIT_RULES; recorded in info.json):
    ash     rooms, as in the authors' data loader: test R01 R02 R14 R15 R16 R29, validation
            R03 R04 R08 R10 R11 R30, train every other room except R05 (left out there too);
    catt    reverberation times, as the authors: test 0_4s 0_8s, validation 0_3s 0_9s,
            train the other seven;
    cipic   subjects and rrbrir rooms, tsepn's rule ("tail"): sorted by name, the last
            max(1, round(10 %)) are test, the max(1, round(10 %)) before them validation,
            the rest train (CIPIC's 45 subjects: 37 / 4 / 4; RRBRIR's 5 rooms: 3 / 1 / 1).
            The authors' loader uses every CIPIC subject and RRBRIR room in all three splits;
            `--shared-hrtf-sets` (prepare_brirs) does the same.
A set or scene with too few members for a split simply contributes nothing to it.

Responses are resampled to 16 kHz with soxr (tsepn.audio.resample) and cut to
`max_seconds` (the authors: 1 s). Validation raises BrirError naming the file: unreadable
or malformed SOFA (missing Data.IR, not 3-D, not 2 receivers, bad sampling rate, positions
that do not match the measurements), a wav that is not 2 channels, a CATT response not at
16 kHz, a wav whose rate differs from the other responses of its scene, empty or non-finite
responses, a file name without an azimuth.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tsepn.audio import resample
from tsepn.data.corpora import BRIR_SETS, CorpusError
from tsepn.fileio import atomic_path, read_table, write_table, write_text_atomic

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SET_NAMES = ("cipic", "rrbrir", "ash", "catt")
SPLITS = ("train", "dev", "test")
PAPER_WEIGHTS = {"cipic": 35.0, "rrbrir": 5.0, "ash": 45.0, "catt": 15.0}
FACE_TOLERANCE_DEG = 5.0
CATT_SAMPLE_RATE = 16000  # the CATT_RIRs/Binaural/16k folder: anything else is a wrong file

# The authors' room / reverberation-time splits (their data loader); R05 is used nowhere.
ASH_SPLIT = {
    "test": ("R01", "R02", "R14", "R15", "R16", "R29"),
    "dev": ("R03", "R04", "R08", "R10", "R11", "R30"),
}
ASH_EXCLUDED = ("R05",)
CATT_SPLIT = {
    "train": ("0_0s", "0_1s", "0_2s", "0_5s", "0_6s", "0_7s", "1_0s"),
    "dev": ("0_3s", "0_9s"),
    "test": ("0_4s", "0_8s"),
}
SPLIT_RULES = {
    "ash": "rooms: test " + " ".join(ASH_SPLIT["test"]) + "; dev " + " ".join(ASH_SPLIT["dev"])
           + "; train the others except " + " ".join(ASH_EXCLUDED),
    "catt": "reverberation times: " + "; ".join(f"{k} {' '.join(v)}" for k, v in CATT_SPLIT.items()),
    "cipic": "subjects sorted by name: last 10% test, the 10% before dev (at least 1 each), rest train",
    "rrbrir": "rooms sorted by name: last 10% test, the 10% before dev (at least 1 each), rest train",
}

_ASH_AZ = re.compile(r"_A(-?\d+(?:\.\d+)?)\.wav$", re.IGNORECASE)
_ASH_EL = re.compile(r"_E(-?\d+(?:\.\d+)?)(?:_|\.wav$)", re.IGNORECASE)
_CATT_AZ = re.compile(r"_(-?\d+(?:\.\d+)?)\.wav$", re.IGNORECASE)
# ASH's listener variant: the file name without its direction, e.g. BRIR_R01_C1 of BRIR_R01_C1_E0_A-30.wav
_ASH_VARIANT = re.compile(r"(?:_E-?\d+(?:\.\d+)?)?_A-?\d+(?:\.\d+)?\.wav$", re.IGNORECASE)
_ASH_NON_DIRECTIONAL = re.compile(r"_True_Stereo\.wav$", re.IGNORECASE)  # a room's stereo rendering, no direction
_NPY_SPEC = re.compile(r"^(?P<file>.+\.npy):(?P<index>\d+)$")


class BrirError(CorpusError):
    """A BRIR file or list that cannot be used; the message names the file (and line)."""


@dataclass
class Scene:
    """The responses of one listener in one room, resampled, with their directions."""

    set: str
    name: str  # scene id: "<set>_<subject / room / rt60>[_<ASH listener variant>]"
    split: str
    source: str  # the file or folder it was read from
    responses: np.ndarray  # float32 [M, 2, T] at SAMPLE_RATE
    azimuth: np.ndarray  # [M] degrees, (-180, 180]
    elevation: np.ndarray  # [M] degrees
    labels: List[str] = field(default_factory=list)  # per response: measurement index or file name

    @property
    def face(self) -> int:
        return facing_index(self.azimuth, self.elevation, self.source)

    def response_id(self, m: int) -> str:
        return f"{self.name}-{m:04d}"


# --------------------------------------------------------------------------- directions and splits


def wrap_azimuth(azimuth) -> np.ndarray:
    """Degrees wrapped to (-180, 180]."""
    a = np.mod(np.asarray(azimuth, dtype=np.float64) + 180.0, 360.0) - 180.0
    return np.where(a == -180.0, 180.0, a)


def facing_index(azimuth: np.ndarray, elevation: np.ndarray, where: str = "<scene>") -> int:
    """Index of the response nearest to azimuth 0, elevation 0 (first on ties)."""
    distance = np.abs(wrap_azimuth(azimuth)) + np.abs(np.asarray(elevation, dtype=np.float64))
    m = int(np.argmin(distance))
    if distance[m] > FACE_TOLERANCE_DEG:
        raise BrirError(f"{where}: no facing response (nearest to azimuth 0, elevation 0 is "
                        f"{float(wrap_azimuth(azimuth[m])):g}, {float(elevation[m]):g} degrees)")
    return m


def tail_split(names: Sequence[str], fraction: float = 0.1) -> Dict[str, str]:
    """tsepn's rule for CIPIC subjects and RRBRIR rooms: sorted, last ~10 % test, ~10 % before dev."""
    names = sorted(names)
    n = len(names)
    if n < 3:  # too few to hold one out: everything trains
        return {name: "train" for name in names}
    n_held = max(1, int(round(fraction * n)))
    out = {}
    for k, name in enumerate(names):
        out[name] = "test" if k >= n - n_held else "dev" if k >= n - 2 * n_held else "train"
    return out


def ash_split(room: str) -> Optional[str]:
    if room in ASH_EXCLUDED:
        return None
    for split, rooms in ASH_SPLIT.items():
        if room in rooms:
            return split
    return "train"


def catt_split(rt60: str) -> Optional[str]:
    for split, names in CATT_SPLIT.items():
        if rt60 in names:
            return split
    return None


# --------------------------------------------------------------------------- reading the sets


def _finish(ir: np.ndarray, sr: int, sample_rate: int, max_seconds: float, where: str) -> np.ndarray:
    """[M, 2, N] at sr -> float32 [M, 2, T] at sample_rate, cut to max_seconds, checked."""
    if ir.size == 0 or ir.shape[-1] == 0:
        raise BrirError(f"{where}: empty impulse response")
    if not np.all(np.isfinite(ir)):
        raise BrirError(f"{where}: impulse response holds NaN or Inf")
    m, r, n = ir.shape
    if sr != sample_rate:
        flat = resample(np.ascontiguousarray(ir.reshape(m * r, n), dtype=np.float32), sr, sample_rate)
        ir = flat.reshape(m, r, -1)
    limit = max(1, int(round(max_seconds * sample_rate)))
    return np.ascontiguousarray(ir[..., :limit], dtype=np.float32)


def read_sofa_scene(path, sample_rate: int = SAMPLE_RATE, max_seconds: float = 1.0
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(responses [M, 2, T], azimuth [M], elevation [M]) of a SOFA file of impulse responses."""
    import sofar

    path = Path(path)
    if not path.is_file():
        raise BrirError(f"{path}: SOFA file not found")
    try:
        sofa = sofar.read_sofa(str(path), verify=False, verbose=False)
    except Exception as err:  # netCDF4 / sofar raise OSError, KeyError, ValueError ... for bad files
        raise BrirError(f"{path}: not a readable SOFA file ({type(err).__name__}: {err})") from None
    ir = getattr(sofa, "Data_IR", None)
    if ir is None:
        raise BrirError(f"{path}: malformed SOFA: no Data.IR (impulse responses)")
    ir = np.asarray(ir, dtype=np.float64)
    if ir.ndim != 3:
        raise BrirError(f"{path}: malformed SOFA: Data.IR must be [measurements, receivers, samples], "
                        f"got shape {ir.shape}")
    if ir.shape[1] != 2:
        raise BrirError(f"{path}: malformed SOFA: {ir.shape[1]} receiver(s), a BRIR needs 2 (left, right)")
    rate = np.asarray(getattr(sofa, "Data_SamplingRate", np.nan), dtype=np.float64).reshape(-1)
    if rate.size == 0 or not np.all(np.isfinite(rate)) or np.any(rate <= 0) or np.unique(rate).size != 1:
        raise BrirError(f"{path}: malformed SOFA: Data.SamplingRate {rate.tolist()} is not one positive rate")
    sr = float(rate[0])
    if sr != int(sr):
        raise BrirError(f"{path}: Data.SamplingRate {sr} Hz is not a whole number")
    pos = np.asarray(getattr(sofa, "SourcePosition", np.zeros((0, 3))), dtype=np.float64)
    pos = pos.reshape(1, -1) if pos.ndim == 1 else pos
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] not in (1, ir.shape[0]):
        raise BrirError(f"{path}: malformed SOFA: SourcePosition has shape {pos.shape}, expected "
                        f"[{ir.shape[0]}, 3] (one position per measurement)")
    pos = np.broadcast_to(pos, (ir.shape[0], 3))
    kind = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
    if kind.startswith("cartesian"):
        x, y, z = pos.T
        azimuth = np.degrees(np.arctan2(y, x))
        elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
    elif kind.startswith("spherical"):
        azimuth, elevation = pos[:, 0], pos[:, 1]
    else:
        raise BrirError(f"{path}: SourcePosition_Type {kind!r} is neither spherical nor cartesian")
    return _finish(ir, int(sr), sample_rate, max_seconds, str(path)), wrap_azimuth(azimuth), elevation.astype(np.float64)


def read_wav_scene(files: Sequence[Path], set_name: str, sample_rate: int = SAMPLE_RATE, max_seconds: float = 1.0
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(responses [M, 2, T], azimuth [M], elevation [M]) of one scene's stereo wav files."""
    import soundfile as sf

    rates, irs, az, el = set(), [], [], []
    scene_rate = None
    for path in files:
        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise BrirError(f"{path}: unreadable or corrupt audio ({err})") from None
        if data.shape[1] != 2:
            raise BrirError(f"{path}: {data.shape[1]} channel(s), a BRIR needs 2 (left, right)")
        if set_name == "catt" and sr != CATT_SAMPLE_RATE:
            raise BrirError(f"{path}: sample rate {sr} Hz, the CATT 16k set must be {CATT_SAMPLE_RATE} Hz")
        if scene_rate is None:
            scene_rate = sr
        elif sr != scene_rate:
            raise BrirError(f"{path}: sample rate {sr} Hz, the other responses of {path.parent} are at {scene_rate} Hz")
        rates.add(sr)
        irs.append(data.T)
        azimuth, elevation = _wav_direction(path, set_name)
        az.append(azimuth)
        el.append(elevation)
    length = max(ir.shape[1] for ir in irs)
    stack = np.zeros((len(irs), 2, length), dtype=np.float32)
    for k, ir in enumerate(irs):
        stack[k, :, : ir.shape[1]] = ir
    where = str(files[0].parent)
    return _finish(stack, int(scene_rate), sample_rate, max_seconds, where), wrap_azimuth(az), np.asarray(el, float)


def _wav_direction(path: Path, set_name: str) -> Tuple[float, float]:
    pattern = _ASH_AZ if set_name == "ash" else _CATT_AZ
    match = pattern.search(path.name)
    if not match:
        form = "..._A<azimuth>.wav" if set_name == "ash" else "..._<azimuth>.wav"
        raise BrirError(f"{path}: no azimuth in the file name (expected {form})")
    elevation = 0.0
    if set_name == "ash":
        el = _ASH_EL.search(path.name)
        if el:
            elevation = float(el.group(1))
    return float(match.group(1)), elevation


def scan_set(root, set_name: str, sample_rate: int = SAMPLE_RATE, max_seconds: float = 1.0,
             shared_hrtf_sets: bool = False) -> List[Scene]:
    """Every scene of one set under the BRIR root, with its split (see the module docstring)."""
    facts = BRIR_SETS[set_name]
    folder = Path(root) / facts.folder
    if not folder.is_dir():
        raise BrirError(f"{folder}: BRIR set {set_name!r} not found")
    scenes: List[Scene] = []
    if set_name in ("cipic", "rrbrir"):
        files = sorted(folder.glob(facts.pattern))
        if not files:
            raise BrirError(f"{folder}: no files matching {facts.pattern}")
        splits = tail_split([f.stem for f in files])
        for path in files:
            split = "all" if shared_hrtf_sets else splits[path.stem]
            ir, az, el = read_sofa_scene(path, sample_rate, max_seconds)
            scenes.append(Scene(set_name, f"{set_name}_{_safe(path.stem)}", split, str(path), ir, az, el,
                                [str(m) for m in range(ir.shape[0])]))
        return scenes
    groups: Dict[str, List[Path]] = {}
    for path in sorted(folder.glob(facts.pattern)):
        rel = path.relative_to(folder)
        if len(rel.parts) < 2:
            raise BrirError(f"{path}: responses must lie in one folder per "
                            f"{'room' if set_name == 'ash' else 'reverberation time'}")
        if set_name == "ash" and _ASH_NON_DIRECTIONAL.search(path.name):
            log.info("%s: non-directional stereo rendering, skipped", path)
            continue
        groups.setdefault(rel.parts[0], []).append(path)
    if not groups:
        raise BrirError(f"{folder}: no files matching {facts.pattern}")
    for group, files in sorted(groups.items()):
        split = ash_split(group) if set_name == "ash" else catt_split(group)
        if split is None:
            log.info("%s: %s is in no split (%s), skipped", folder / group, group, SPLIT_RULES[set_name])
            continue
        variants = ash_variants(files) if set_name == "ash" else {"": files}
        for variant, members in sorted(variants.items()):
            scene_id = f"{set_name}_{_safe(group)}" + (f"_{_safe(variant)}" if len(variants) > 1 else "")
            ir, az, el = read_wav_scene(members, set_name, sample_rate, max_seconds)
            scenes.append(Scene(set_name, scene_id, split, str(folder / group), ir, az, el, [f.name for f in members]))
    return scenes


def ash_variants(files: Sequence[Path]) -> Dict[str, List[Path]]:
    """An ASH room's responses grouped by listener variant (the name without `_E<el>_A<az>.wav`):
    each variant is a listener position of its own, with its own facing response."""
    variants: Dict[str, List[Path]] = {}
    for path in files:
        match = _ASH_VARIANT.search(path.name)
        if not match:
            raise BrirError(f"{path}: no azimuth in the file name (expected ..._A<azimuth>.wav)")
        prefix = path.name[: match.start()]
        room = path.parent.name
        variant = prefix.split(f"_{room}_", 1)[1] if f"_{room}_" in prefix else prefix
        variants.setdefault(variant, []).append(path)
    return variants


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


# --------------------------------------------------------------------------- writing the lists


def prepare_brirs(root, out_prefix, sets: Sequence[str] = SET_NAMES, sample_rate: int = SAMPLE_RATE,
                  max_seconds: float = 1.0, shared_hrtf_sets: bool = False) -> Dict[str, Path]:
    """Write `<out_prefix>_{train,dev,test}/` (see the module docstring); returns split -> folder.

    Each folder is built under a temporary name and renamed into place.
    """
    from tsepn.data.datadir import replace_dir

    unknown = sorted(set(sets) - set(SET_NAMES))
    if unknown:
        raise BrirError(f"unknown BRIR set(s) {unknown}; known: {', '.join(SET_NAMES)}")
    scenes: List[Scene] = []
    for name in sets:
        found = scan_set(root, name, sample_rate, max_seconds, shared_hrtf_sets)
        log.info("%s: %d scene(s), %d response(s)", name, len(found), sum(s.responses.shape[0] for s in found))
        scenes += found
    out_prefix = Path(out_prefix)
    made = {}
    for split in SPLITS:
        chosen = [s for s in scenes if s.split in (split, "all")]
        final = out_prefix.with_name(f"{out_prefix.name}_{split}")
        tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _write_split(chosen, tmp, final, {
                "root": str(Path(root).resolve()), "sets": list(sets), "split": split, "sample_rate": sample_rate,
                "max_seconds": max_seconds, "shared_hrtf_sets": shared_hrtf_sets,
                "split_rules": {k: ("every scene in every split" if shared_hrtf_sets and k in ("cipic", "rrbrir")
                                    else v) for k, v in SPLIT_RULES.items() if k in sets},
            })
            replace_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        made[split] = final
    return made


def _write_split(scenes: List[Scene], tmp: Path, final: Path, info: dict) -> None:
    (tmp / "responses").mkdir(parents=True)
    scp, directions, brir2scene, scene2set, scene2face = [], [], [], [], []
    counts: Dict[str, List[int]] = {}
    for scene in scenes:
        with atomic_path(tmp / "responses" / f"{scene.name}.npy") as path:
            with open(path, "wb") as handle:
                np.save(handle, scene.responses)
        npy = final.resolve() / "responses" / f"{scene.name}.npy"
        for m in range(scene.responses.shape[0]):
            rid = scene.response_id(m)
            scp.append((rid, f"{npy}:{m}"))
            directions.append((rid, f"{scene.azimuth[m]:g} {scene.elevation[m]:g}"))
            brir2scene.append((rid, scene.name))
        scene2set.append((scene.name, scene.set))
        scene2face.append((scene.name, scene.response_id(scene.face)))
        counts.setdefault(scene.set, [0, 0])
        counts[scene.set][0] += 1
        counts[scene.set][1] += scene.responses.shape[0]
    write_table(tmp / "brir.scp", scp)
    write_table(tmp / "brir2dir", directions)
    write_table(tmp / "brir2scene", brir2scene)
    write_table(tmp / "scene2set", scene2set)
    write_table(tmp / "scene2face", scene2face)
    info = dict(info, scenes={k: v[0] for k, v in counts.items()}, responses={k: v[1] for k, v in counts.items()})
    write_text_atomic(tmp / "info.json", json.dumps(info, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- reading the lists back


@dataclass(frozen=True)
class BrirEntry:
    id: str
    spec: str
    azimuth: float
    elevation: float


@dataclass
class BrirScenes:
    """A prepared split (`data/brir_<split>`): scenes per set, responses per scene, facing response."""

    data_dir: Path
    by_set: Dict[str, List[str]]  # set -> sorted scene ids
    responses: Dict[str, List[BrirEntry]]  # scene -> entries sorted by id
    face: Dict[str, str]  # scene -> brir id

    @classmethod
    def load(cls, data_dir) -> "BrirScenes":
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise BrirError(f"{data_dir}: no BRIR list folder (run python -m tsepn.bin.prepare_brirs)")
        scp = read_table(data_dir / "brir.scp")
        directions = _read_directions(data_dir / "brir2dir")
        brir2scene = read_table(data_dir / "brir2scene")
        scene2set = read_table(data_dir / "scene2set")
        face = read_table(data_dir / "scene2face")
        by_set: Dict[str, List[str]] = {}
        for scene, set_name in sorted(scene2set.items()):
            if set_name not in SET_NAMES:
                raise BrirError(f"{data_dir / 'scene2set'}: scene {scene!r} has unknown set {set_name!r}")
            by_set.setdefault(set_name, []).append(scene)
        responses: Dict[str, List[BrirEntry]] = {scene: [] for scene in scene2set}
        for rid in sorted(scp):
            if rid not in directions or rid not in brir2scene:
                raise BrirError(f"{data_dir}: response {rid!r} of brir.scp has no line in brir2dir / brir2scene")
            scene = brir2scene[rid]
            if scene not in responses:
                raise BrirError(f"{data_dir / 'brir2scene'}: scene {scene!r} of {rid!r} is not in scene2set")
            responses[scene].append(BrirEntry(rid, scp[rid], *directions[rid]))
        for scene, entries in responses.items():
            if not entries:
                raise BrirError(f"{data_dir}: scene {scene!r} has no response")
            if face.get(scene) not in {e.id for e in entries}:
                raise BrirError(f"{data_dir / 'scene2face'}: scene {scene!r} has no facing response among its own")
        return cls(data_dir, by_set, responses, face)

    def entry(self, scene: str, rid: str) -> BrirEntry:
        for e in self.responses[scene]:
            if e.id == rid:
                return e
        raise KeyError(rid)


def _read_directions(path: Path) -> Dict[str, Tuple[float, float]]:
    from tsepn.fileio import iter_table

    out = {}
    for lineno, fields in iter_table(path, min_fields=3, max_fields=3):
        try:
            out[fields[0]] = (float(fields[1]), float(fields[2]))
        except ValueError:
            raise BrirError(f"{path}:{lineno}: azimuth and elevation must be numbers, got {fields[1:]}") from None
    return out


# --------------------------------------------------------------------------- responses for rendering


class ResponseCache:
    """Responses by spec, a whole scene file held at a time (LRU over `max_scenes` scenes).

    Specs: `<scene>.npy:<m>` (prepared lists) or any audio spec tsepn.audio reads (a wav BRIR).
    """

    def __init__(self, max_scenes: int = 16):
        self.max_scenes = max_scenes
        self._scenes: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._direct: Dict[Tuple[str, int], np.ndarray] = {}

    def get(self, spec: str, sample_rate: int) -> np.ndarray:
        match = _NPY_SPEC.match(spec)
        if not match:
            return _read_audio_brir(spec, sample_rate)
        array = self._scene(match.group("file"))
        m = int(match.group("index"))
        if m >= array.shape[0]:
            raise BrirError(f"{spec}: index {m} past the {array.shape[0]} responses of {match.group('file')}")
        if sample_rate != SAMPLE_RATE:
            raise BrirError(f"{spec}: prepared responses are at {SAMPLE_RATE} Hz, the scenario needs {sample_rate} Hz")
        return array[m]

    def direct(self, spec: str, sample_rate: int, window_ms: float) -> np.ndarray:
        key = (spec, sample_rate, window_ms)
        if key not in self._direct:
            if len(self._direct) > 4096:
                self._direct.clear()
            self._direct[key] = direct_path(self.get(spec, sample_rate), sample_rate, window_ms)
        return self._direct[key]

    def _scene(self, path: str) -> np.ndarray:
        if path in self._scenes:
            self._scenes.move_to_end(path)
            return self._scenes[path]
        if not Path(path).is_file():
            raise BrirError(f"{path}: BRIR scene file not found (prepare the lists again?)")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise BrirError(f"{path}: unreadable BRIR scene file ({err})") from None
        if array.ndim != 3 or array.shape[1] != 2 or array.dtype != np.float32:
            raise BrirError(f"{path}: expected float32 [M, 2, T] responses, got {array.dtype} {array.shape}")
        self._scenes[path] = array
        while len(self._scenes) > self.max_scenes:
            self._scenes.popitem(last=False)
        return array


@functools.lru_cache(maxsize=64)
def _read_audio_brir(spec: str, sample_rate: int) -> np.ndarray:
    from tsepn.audio import read_audio

    return read_audio(spec, sample_rate=sample_rate, strict=True)[0]


def direct_path(brir: np.ndarray, sample_rate: int, window_ms: float = 2.5) -> np.ndarray:
    """The direct sound of a response: everything up to `window_ms` after the later ear's peak,
    then a 1-ms raised-cosine fade, zeros after (the early part that carries ITD and ILD)."""
    peak = int(np.max(np.argmax(np.abs(brir), axis=-1)))
    keep = peak + int(round(window_ms * 1e-3 * sample_rate))
    fade = max(1, int(round(1e-3 * sample_rate)))
    out = np.zeros_like(brir)
    stop = min(brir.shape[-1], keep + fade)
    out[:, :stop] = brir[:, :stop]
    if keep < stop:
        ramp = 0.5 + 0.5 * np.cos(np.pi * (np.arange(stop - keep) + 0.5) / fade)
        out[:, keep:stop] *= ramp.astype(np.float32)
    return out


def fft_convolve(signal: np.ndarray, brir: np.ndarray, length: int) -> np.ndarray:
    """[T] mono signal * [C, N] response -> [C, length] (the first `length` samples, zero padded)."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(signal[None, :].astype(np.float32), brir, axes=-1)[:, :length]
    if wet.shape[1] < length:
        wet = np.pad(wet, ((0, 0), (0, length - wet.shape[1])))
    return wet.astype(np.float32)


__all__ = ["BrirError", "Scene", "BrirScenes", "BrirEntry", "ResponseCache", "prepare_brirs", "scan_set",
           "read_sofa_scene", "read_wav_scene", "tail_split", "ash_split", "catt_split", "facing_index",
           "wrap_azimuth", "direct_path", "fft_convolve", "PAPER_WEIGHTS", "SET_NAMES", "SPLITS", "SPLIT_RULES"]
