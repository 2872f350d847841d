"""Scanners and checkers for the corpora on disk: LibriSpeech, WHAM! noise, BRIR sets.

Scanning lists what is there (utterances, speakers, transcripts, noise files)
and fails with a `CorpusError` naming the offending file or folder. Checking
compares what is there with the published facts below and returns a list of
problems (empty = complete); `tools/download_*.sh --verify` and recipe stage 0
print them.

Where the figures come from (keep this honest when you change one):
- LibriSpeech utterance counts: the openslr/librispeech_asr dataset card on the
  Hugging Face hub (train.clean.360 104014, validation 2703, test 2620);
  speaker counts: the LibriSpeech paper (Panayotov et al., ICASSP 2015, table 1:
  921 / 40 / 40). Archive sizes: the openslr.org/12 listing (23G, 337M, 346M)
  and the k2-fsa/LibriSpeech mirror (23 GB, 338 MB, 347 MB); the exact byte
  counts are not known here, so archives are checked within 2 % only; the
  md5 sums are in https://www.openslr.org/resources/12/md5sum.txt.
- WHAM! noise: 16 kHz, 2 channels (LibriMix's create_wham_metadata.py "all the
  sources are at 16K Hz" and augment_train_noise.py reading channel 0); 20000
  files in tr (LibriMix checks exactly that count; 60000 after LibriMix's speed
  augmentation), 5000 in cv and 3000 in tt (one noise per wsj0-2mix mixture;
  also reported by a public data-preparation README). wham_noise.zip is about
  17.6-18.2 GB depending on the source (the WHAM! page / a third-party README):
  only a lower bound is checked.
- BRIR sets (as reported by a public data-preparation README for the
  LookOnceToHear-style layout that the authors' code reads): CIPIC 45
  `subject_*.sofa` (sofacoustics.org, 82 MB); RRBRIR 5 `UniS_*_BRIR_16k.sofa`
  (github.com/IoSR-Surrey/RealRoomBRIRs, 47 MB); ASH-Listening-Set-8.0.zip
  (230 MB, stereo wav BRIRs, count not known here); CATT_RIRs.zip (71 MB,
  `CATT_RIRs/Binaural/16k/<rt60>/`, 407 wav = 11 reverberation times x 37
  azimuths).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """A corpus tree that does not have the expected layout; names the path."""


@dataclass(frozen=True)
class SubsetFacts:
    utterances: int
    speakers: int
    archive: str
    archive_bytes: float  # approximate, see the module docstring


LIBRISPEECH_URL = "https://www.openslr.org/resources/12"
LIBRISPEECH_SUBSETS: Dict[str, SubsetFacts] = {
    "train-clean-360": SubsetFacts(104014, 921, "train-clean-360.tar.gz", 23.0e9),
    "dev-clean": SubsetFacts(2703, 40, "dev-clean.tar.gz", 337.9e6),
    "test-clean": SubsetFacts(2620, 40, "test-clean.tar.gz", 346.7e6),
}
ARCHIVE_TOLERANCE = 0.02

WHAM_URL = "https://my-bucket-a8b4b49c25c811ee9a7e8bba05fa24c7.s3.amazonaws.com/wham_noise.zip"
WHAM_ARCHIVE = "wham_noise.zip"
WHAM_ARCHIVE_MIN_BYTES = 17.0e9
WHAM_SPLITS: Dict[str, int] = {"tr": 20000, "cv": 5000, "tt": 3000}
WHAM_SAMPLE_RATE = 16000
WHAM_CHANNELS = 2


@dataclass(frozen=True)
class BrirSetFacts:
    folder: str  # relative to the BRIR root
    pattern: str  # glob of the response files, relative to `folder`
    count: Optional[int]  # expected number of files, None when not known
    url: str
    archive: str
    size: str


BRIR_SETS: Dict[str, BrirSetFacts] = {
    "cipic": BrirSetFacts("CIPIC", "subject_*.sofa", 45, "https://sofacoustics.org/data/database/cipic/",
                          "subject_NNN.sofa (45 files)", "82 MB"),
    "rrbrir": BrirSetFacts("RRBRIR", "*.sofa", 5, "https://github.com/IoSR-Surrey/RealRoomBRIRs",
                           "UniS_*_BRIR_16k.sofa (5 files)", "47 MB"),
    "ash": BrirSetFacts("ASH-Listening-Set-8.0/BRIRs", "**/*.wav", None,
                        "https://github.com/ShanonPearce/ASH-Listening-Set/releases/tag/v8.0",
                        "ASH-Listening-Set-8.0.zip", "230 MB"),
    "catt": BrirSetFacts("CATT_RIRs/Binaural/16k", "*/*.wav", 407, "https://iosr.uk/software/downloads/CATT_RIRs.zip",
                         "CATT_RIRs.zip", "71 MB"),
}

_UTT_RE = re.compile(r"^(\d+)-(\d+)-(\d+)$")


@dataclass(frozen=True)
class Utterance:
    utt_id: str  # <speaker>-<chapter>-<NNNN>
    speaker: str
    chapter: str
    path: Path
    text: str


@dataclass(frozen=True)
class SpeakerInfo:
    speaker: str
    sex: str
    subset: str
    minutes: float
    name: str


# ---------------------------------------------------------------------------
# LibriSpeech
# ---------------------------------------------------------------------------
def librispeech_subset_dir(root, subset: str) -> Path:
    """`root` may be the folder holding `LibriSpeech/` or `LibriSpeech/` itself."""
    root = Path(root)
    for candidate in (root / "LibriSpeech" / subset, root / subset):
        if candidate.is_dir():
            return candidate
    raise CorpusError(f"{root}: no LibriSpeech subset {subset!r} (looked for {root / 'LibriSpeech' / subset} "
                      f"and {root / subset})")


def scan_librispeech(root, subset: str) -> List[Utterance]:
    """All utterances of one subset, sorted by id, with their transcripts.

    Errors (CorpusError, naming the path): missing subset, a speaker folder
    with no chapter, a chapter without transcript or audio, an audio file
    without a transcript line or the reverse, malformed names.
    """
    subset_dir = librispeech_subset_dir(root, subset)
    utterances: List[Utterance] = []
    speakers = sorted(p for p in subset_dir.iterdir() if p.is_dir())
    if not speakers:
        raise CorpusError(f"{subset_dir}: no speaker folders")
    for spk_dir in speakers:
        if not spk_dir.name.isdigit():
            raise CorpusError(f"{spk_dir}: speaker folder name must be numeric (LibriSpeech layout)")
        chapters = sorted(p for p in spk_dir.iterdir() if p.is_dir())
        if not chapters:
            raise CorpusError(f"{spk_dir}: empty speaker folder (no chapter folders)")
        for chapter_dir in chapters:
            utterances.extend(_scan_chapter(spk_dir.name, chapter_dir))
    utterances.sort(key=lambda u: u.utt_id)
    return utterances


def _scan_chapter(speaker: str, chapter_dir: Path) -> List[Utterance]:
    chapter = chapter_dir.name
    trans = chapter_dir / f"{speaker}-{chapter}.trans.txt"
    audio = {p.stem: p for p in chapter_dir.glob("*.flac")}
    if not trans.is_file():
        raise CorpusError(f"{trans}: transcript missing" + ("" if audio else " (and no .flac files)"))
    texts: Dict[str, str] = {}
    with open(trans, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            utt = parts[0]
            match = _UTT_RE.match(utt)
            if not match or match.group(1) != speaker or match.group(2) != chapter:
                raise CorpusError(f"{trans}:{lineno}: utterance id {utt!r} is not {speaker}-{chapter}-NNNN")
            if utt in texts:
                raise CorpusError(f"{trans}:{lineno}: duplicate utterance {utt!r}")
            texts[utt] = parts[1] if len(parts) > 1 else ""
    missing_audio = sorted(set(texts) - set(audio))
    if missing_audio:
        raise CorpusError(f"{chapter_dir / (missing_audio[0] + '.flac')}: audio file missing "
                          f"(listed in {trans.name}; {len(missing_audio)} missing in this chapter)")
    missing_text = sorted(set(audio) - set(texts))
    if missing_text:
        raise CorpusError(f"{audio[missing_text[0]]}: no transcript line in {trans}")
    return [Utterance(u, speaker, chapter, audio[u], texts[u]) for u in texts]


def read_speakers_txt(path) -> Dict[str, SpeakerInfo]:
    """LibriSpeech SPEAKERS.TXT: `ID | SEX | SUBSET | MINUTES | NAME`, ';' comments."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: SPEAKERS.TXT not found")
    speakers: Dict[str, SpeakerInfo] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(";"):
                continue
            fields = [f.strip() for f in line.split("|", 4)]
            if len(fields) != 5 or not fields[0].isdigit():
                raise CorpusError(f"{path}:{lineno}: expected 'ID | SEX | SUBSET | MINUTES | NAME'")
            try:
                minutes = float(fields[3])
            except ValueError:
                raise CorpusError(f"{path}:{lineno}: MINUTES {fields[3]!r} is not a number") from None
            speakers[fields[0]] = SpeakerInfo(fields[0], fields[1], fields[2], minutes, fields[4])
    return speakers


def check_librispeech(root, subsets: Sequence[str], layout_only: bool = False) -> List[str]:
    """Problems with the extracted subsets (empty list = all there).

    Counts speakers and .flac files and compares them with the published
    figures unless `layout_only` (the mini corpus has its own sizes); then
    scans each subset fully (transcripts, names).
    """
    problems: List[str] = []
    for subset in subsets:
        try:
            subset_dir = librispeech_subset_dir(root, subset)
        except CorpusError as err:
            problems.append(str(err))
            continue
        facts = LIBRISPEECH_SUBSETS.get(subset)
        if not layout_only and facts is not None:
            n_spk = sum(1 for p in subset_dir.iterdir() if p.is_dir())
            n_utt = sum(len([f for f in files if f.endswith(".flac")]) for _, _, files in os.walk(subset_dir))
            if n_spk != facts.speakers:
                problems.append(f"{subset_dir}: {n_spk} speaker folders, expected {facts.speakers}")
            if n_utt != facts.utterances:
                problems.append(f"{subset_dir}: {n_utt} .flac files, expected {facts.utterances}")
        try:
            utts = scan_librispeech(root, subset)
            log.info("%s: %d utterances, %d speakers", subset_dir, len(utts), len({u.speaker for u in utts}))
        except CorpusError as err:
            problems.append(str(err))
    speakers_txt = _speakers_txt_path(root)
    if speakers_txt is None:
        problems.append(f"{root}: SPEAKERS.TXT not found (it ships in every LibriSpeech archive)")
    return problems


def _speakers_txt_path(root) -> Optional[Path]:
    root = Path(root)
    for candidate in (root / "LibriSpeech" / "SPEAKERS.TXT", root / "SPEAKERS.TXT"):
        if candidate.is_file():
            return candidate
    return None


def check_archives(archive_dir, expected: Dict[str, float], tolerance: float = ARCHIVE_TOLERANCE,
                   minimum_only: bool = False) -> List[str]:
    """Problems with downloaded archives: missing, or size off by more than `tolerance`."""
    problems = []
    for name, size in expected.items():
        path = Path(archive_dir) / name
        if not path.is_file():
            problems.append(f"{path}: archive missing")
            continue
        actual = path.stat().st_size
        if minimum_only:
            if actual < size:
                problems.append(f"{path}: {actual} bytes, expected at least {size:.3g} (truncated download?)")
        elif abs(actual - size) > tolerance * size:
            problems.append(f"{path}: {actual} bytes, expected about {size:.4g} (+-{tolerance:.0%}); "
                            f"truncated or wrong file?")
    return problems


# ---------------------------------------------------------------------------
# WHAM! noise
# ---------------------------------------------------------------------------
def wham_split_dir(root, split: str) -> Path:
    """`root` may be the folder holding `wham_noise/` or `wham_noise/` itself."""
    root = Path(root)
    for candidate in (root / "wham_noise" / split, root / split):
        if candidate.is_dir():
            return candidate
    raise CorpusError(f"{root}: no WHAM! noise folder {split!r} (looked for {root / 'wham_noise' / split} "
                      f"and {root / split})")


def scan_wham_noise(root, split: str) -> List[Path]:
    """Sorted .wav files of one WHAM! split (tr/cv/tt); an empty folder is an error."""
    split_dir = wham_split_dir(root, split)
    files = sorted(p for p in split_dir.rglob("*.wav") if p.is_file())
    if not files:
        raise CorpusError(f"{split_dir}: noise folder has no .wav files")
    return files


def check_wham(root, splits: Sequence[str] = tuple(WHAM_SPLITS), layout_only: bool = False) -> List[str]:
    """Problems with the extracted WHAM! noise (counts unless `layout_only`, format of one file per split)."""
    import soundfile as sf

    problems: List[str] = []
    for split in splits:
        try:
            files = scan_wham_noise(root, split)
        except CorpusError as err:
            problems.append(str(err))
            continue
        expected = WHAM_SPLITS.get(split)
        if not layout_only and expected is not None and len(files) != expected:
            augmented = split == "tr" and len(files) == 3 * expected
            if augmented:
                log.info("%s: %d files (LibriMix speed-augmented copies included)", files[0].parent, len(files))
            else:
                problems.append(f"{wham_split_dir(root, split)}: {len(files)} .wav files, expected {expected}")
        try:
            info = sf.info(str(files[0]))
        except (RuntimeError, sf.LibsndfileError) as err:
            problems.append(f"{files[0]}: unreadable ({err})")
            continue
        if not layout_only and (info.samplerate != WHAM_SAMPLE_RATE or info.channels != WHAM_CHANNELS):
            problems.append(f"{files[0]}: {info.samplerate} Hz x {info.channels} ch, expected "
                            f"{WHAM_SAMPLE_RATE} Hz x {WHAM_CHANNELS} ch")
    return problems


# ---------------------------------------------------------------------------
# BRIR sets
# ---------------------------------------------------------------------------
def scan_brirs(root, name: str) -> List[Path]:
    """Sorted response files of one BRIR set (see BRIR_SETS); missing/empty is an error."""
    if name not in BRIR_SETS:
        raise CorpusError(f"unknown BRIR set {name!r}; known: {', '.join(BRIR_SETS)}")
    facts = BRIR_SETS[name]
    folder = Path(root) / facts.folder
    if not folder.is_dir():
        raise CorpusError(f"{folder}: BRIR set {name!r} not found")
    files = sorted(folder.glob(facts.pattern))
    if not files:
        raise CorpusError(f"{folder}: no files matching {facts.pattern}")
    return files


def check_brirs(root, names: Sequence[str] = tuple(BRIR_SETS), layout_only: bool = False) -> List[str]:
    """Problems with the BRIR sets: missing folders or files; counts unless `layout_only` (mini corpus)."""
    problems = []
    for name in names:
        try:
            files = scan_brirs(root, name)
        except CorpusError as err:
            problems.append(str(err))
            continue
        expected = BRIR_SETS[name].count
        if not layout_only and expected is not None and len(files) != expected:
            problems.append(f"{Path(root) / BRIR_SETS[name].folder}: {len(files)} files matching "
                            f"{BRIR_SETS[name].pattern}, expected {expected}")
    return problems
