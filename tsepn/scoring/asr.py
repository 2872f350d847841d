"""Word error rate and the ASR back ends that produce hypotheses.

Text normalisation: upper-case; every character that is not a letter, digit,
apostrophe or white space becomes a space; apostrophes are kept inside words
(LibriSpeech's "DON'T") and dropped elsewhere; runs of white space collapse.
WER = (substitutions + deletions + insertions) / reference words, from a
minimum edit distance alignment; it can exceed 1; undefined (None) when the
reference has no word.

Back ends (registry `ASR_BACKENDS`, built by `build_asr(name, options)`) turn
one example's audio into a transcript. All run offline: weights come from the
installed wheel (pocketsphinx) or from a local path the user gives; nothing is
downloaded at run time, and a missing model is an `AsrUnavailable` error that
says what to fetch and where to put it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from tsepn.fileio import read_table
from tsepn.registry import Registry
from tsepn.scoring.metrics import MetricError, _as_channels, _to_16k

_PUNCTUATION = re.compile(r"[^\w\s']|_")


class AsrUnavailable(MetricError):
    """An ASR back end cannot run here (package or model missing); the message says what to fetch."""


# --------------------------------------------------------------------------- WER


def normalize_text(text: str) -> str:
    """Upper-case, drop punctuation (apostrophes inside words are kept), collapse whitespace."""
    text = _PUNCTUATION.sub(" ", text.upper())
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def word_errors(ref_words: Sequence[str], hyp_words: Sequence[str]) -> Dict[str, int]:
    """Minimum-edit alignment counts: substitutions, deletions, insertions."""
    n, m = len(ref_words), len(hyp_words)
    # cost[i][j] = (total, sub, del, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)] + [None] * m
        for j in range(1, m + 1):
            same = ref_words[i - 1] == hyp_words[j - 1]
            diag = prev[j - 1]
            options = [
                (diag[0] + (0 if same else 1), diag[1] + (0 if same else 1), diag[2], diag[3]),
                (prev[j][0] + 1, prev[j][1], prev[j][2] + 1, prev[j][3]),  # deletion
                (cur[j - 1][0] + 1, cur[j - 1][1], cur[j - 1][2], cur[j - 1][3] + 1),  # insertion
            ]
            cur[j] = min(options)
        prev = cur
    total, sub, dele, ins = prev[m]
    return {"sub": sub, "del": dele, "ins": ins, "errors": total, "ref_words": n}


def wer(ref_text: str, hyp_text: str) -> Optional[float]:
    """Word error rate after normalisation; undefined for a reference without words."""
    ref_words = normalize_text(ref_text).split()
    if not ref_words:
        return None
    counts = word_errors(ref_words, normalize_text(hyp_text).split())
    return counts["errors"] / counts["ref_words"]


# --------------------------------------------------------------------------- back ends


def _typed(value: str):
    """An --asr-opt string as the int, float or bool it spells (else the string)."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    return value


def mono_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """`[T]`/`[C, T]` audio as float32 mono at 16 kHz (channels averaged), what every back end takes."""
    return _to_16k(_as_channels(audio), sample_rate).mean(axis=0).astype(np.float32)


class AsrBackend:
    """What an ASR back end provides: a transcript of one example's audio.

    `key` is the example id (oracle back ends look transcripts up by it);
    `audio` is `[C, T]` float. Built once per scoring worker and reused.
    `name` says in summary.json and RESULTS.md which recogniser made the WER.
    """

    name = "?"

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        raise NotImplementedError


ASR_BACKENDS: Registry[AsrBackend] = Registry("ASR back end")


@ASR_BACKENDS.register("transcript")
class TranscriptBackend(AsrBackend):
    """Returns fixed transcripts from a Kaldi `text` file (`<key> <words...>`).

    For tests and oracle runs: with the reference text itself it gives WER 0,
    with a file of hypotheses made elsewhere it scores them.
    """

    def __init__(self, text: str):
        self.path = text
        self.table = read_table(text)
        self.name = f"transcript ({text})"

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        if key not in self.table:
            raise MetricError(f"{self.path}: no transcript for {key!r}")
        return self.table[key]


@ASR_BACKENDS.register("pocketsphinx")
class PocketSphinxBackend(AsrBackend):
    """CMU PocketSphinx 5 (pip `pocketsphinx`), offline on CPU. Its wheel ships
    the US English acoustic model, a general 3-gram language model and the CMU
    dictionary, used by default; options `hmm`, `lm`, `dict` (local paths)
    replace them. A weak recogniser next to Whisper: its WERs are for comparing
    systems scored alike, not with the paper's numbers."""

    def __init__(self, hmm: Optional[str] = None, lm: Optional[str] = None, dict: Optional[str] = None,  # noqa: A002
                 **decoder_options: str):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise AsrUnavailable("the pocketsphinx back end needs `pip install pocketsphinx` (tools/requirements.txt)") from None
        config = {"samprate": 16000, "logfn": "/dev/null"}
        for option, value in (("hmm", hmm), ("lm", lm), ("dict", dict)):
            if value is not None:
                if not Path(value).exists():
                    raise AsrUnavailable(f"--asr-opt {option}={value}: no such file or folder")
                config[option] = value
        # any other decoder parameter, e.g. maxhmmpf=3000 (about half the CPU, see docs/scoring.md)
        config.update({k: _typed(v) for k, v in decoder_options.items()})
        try:
            self.decoder = Decoder(**config)
        except (KeyError, ValueError, RuntimeError) as err:
            raise AsrUnavailable(f"pocketsphinx: bad decoder option(s) {sorted(decoder_options)}: {err}") from None
        extra = [f"{k}={v}" for k, v in sorted(decoder_options.items())]
        self.name = "pocketsphinx" + (" (own model)" if (hmm or lm or dict) else "") + (f" [{', '.join(extra)}]" if extra else "")

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        pcm = np.clip(np.round(mono_16k(audio, sample_rate) * 32767.0), -32768, 32767).astype(np.int16)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


@ASR_BACKENDS.register("whisper")
class WhisperBackend(AsrBackend):
    """openai-whisper from a local checkpoint file. Options: model (path to a
    .pt such as large-v3.pt, fetched by the user from the openai-whisper model
    list), language (default en)."""

    def __init__(self, model: Optional[str] = None, language: str = "en"):
        if not model or not Path(model).is_file():
            raise AsrUnavailable(
                f"whisper: give --asr-opt model=/path/to/<size>.pt, a local openai-whisper checkpoint "
                f"(got {model!r}; fetch one on a machine with network access, e.g. "
                "`python -c \"import whisper; whisper.load_model('small', download_root='models/whisper')\"`; "
                "nothing is downloaded at scoring time)"
            )
        try:
            import whisper
        except ImportError:
            raise AsrUnavailable("the whisper back end needs `pip install openai-whisper`") from None
        self.model = whisper.load_model(model, device="cpu")
        self.language = language
        self.name = f"whisper ({Path(model).name})"

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        return self.model.transcribe(mono_16k(audio, sample_rate), language=self.language, fp16=False)["text"]


@ASR_BACKENDS.register("faster_whisper")
class FasterWhisperBackend(AsrBackend):
    """faster-whisper (CTranslate2) from a local model folder (model.bin,
    config.json, tokenizer.json, vocabulary). Options: model (the folder),
    language (default en), compute_type (default int8)."""

    def __init__(self, model: Optional[str] = None, language: str = "en", compute_type: str = "int8"):
        if not model or not Path(model).is_dir() or not (Path(model) / "model.bin").is_file():
            raise AsrUnavailable(
                f"faster_whisper: give --asr-opt model=/path/to/folder holding a CTranslate2 Whisper model "
                f"(model.bin, config.json, tokenizer.json; got {model!r}). Fetch it on a machine with network "
                "access, e.g. the Systran/faster-whisper-small repository, and copy the folder here; "
                "nothing is downloaded at scoring time"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise AsrUnavailable("the faster_whisper back end needs `pip install faster-whisper`") from None
        self.model = WhisperModel(model, device="cpu", compute_type=compute_type, cpu_threads=1, local_files_only=True)
        self.language = language
        self.name = f"faster_whisper ({Path(model).name})"

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        segments, _ = self.model.transcribe(mono_16k(audio, sample_rate), language=self.language, beam_size=5)
        return " ".join(s.text for s in segments)


@ASR_BACKENDS.register("espnet")
class EspnetBackend(AsrBackend):
    """ESPnet2 ASR from a local model: options `config` (the training
    config.yaml) and `model` (the .pth), as unpacked from an ESPnet model zoo
    archive; `beam_size` (default 10)."""

    def __init__(self, config: Optional[str] = None, model: Optional[str] = None, beam_size: str = "10"):
        missing = [f"{opt}={path!r}" for opt, path in (("config", config), ("model", model)) if not path or not Path(path).is_file()]
        if missing:
            raise AsrUnavailable(
                "espnet: give --asr-opt config=/path/to/config.yaml --asr-opt model=/path/to/model.pth of an "
                f"ESPnet2 ASR model (missing or not a file: {', '.join(missing)}). Fetch a model archive (e.g. an "
                "ESPnet LibriSpeech ASR model) on a machine with network access and unpack it here; "
                "nothing is downloaded at scoring time"
            )
        try:
            from espnet2.bin.asr_inference import Speech2Text
        except ImportError as err:
            raise AsrUnavailable(f"the espnet back end needs `pip install espnet` ({err})") from None
        self.model = Speech2Text(asr_train_config=config, asr_model_file=model, device="cpu", beam_size=int(beam_size))
        self.name = f"espnet ({Path(model).name})"

    def transcribe(self, key: str, audio: np.ndarray, sample_rate: int) -> str:
        results = self.model(mono_16k(audio, sample_rate))
        return results[0][0] if results else ""


def build_asr(name: str, options: Optional[Dict[str, str]] = None) -> AsrBackend:
    """The back end `name` with its options; an unknown name is a KeyError listing
    the known ones, a back end that cannot run here an AsrUnavailable."""
    constructor = ASR_BACKENDS.get(name)
    try:
        return constructor(**(options or {}))
    except TypeError as err:
        raise AsrUnavailable(f"ASR back end {name!r}: bad --asr-opt option(s): {err}") from None
