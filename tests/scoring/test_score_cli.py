"""tsepn.bin.score: bad input, undefined values, failures, output formats."""
import csv
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from tsepn.scoring import metrics
from tsepn.bin import score

SR = 16000


def tone(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.1 * np.convolve(rng.standard_normal(n), np.hanning(16), "same") * (0.3 + np.sin(2 * np.pi * 3 * t) ** 2)).astype(np.float32)


def make_set(tmp_path, n_examples=3, samples=SR, channels=1, sr=SR, tweak=None):
    """Write ref/est/mix wavs and scps; `tweak(key, role, audio)` may change any signal."""
    scps = {role: tmp_path / f"{role}.scp" for role in ("ref", "est", "mix")}
    lines = {role: [] for role in scps}
    for i in range(n_examples):
        key = f"utt{i}"
        rng = np.random.default_rng(100 + i)
        ref = np.stack([tone(samples, 10 * i + c) for c in range(channels)])
        signals = {
            "ref": ref,
            "est": ref + 0.01 * rng.standard_normal(ref.shape).astype(np.float32),
            "mix": ref + 0.05 * rng.standard_normal(ref.shape).astype(np.float32),
        }
        for role, audio in signals.items():
            rate = sr
            if tweak:
                audio, rate = tweak(key, role, audio, rate)
            path = tmp_path / f"{role}_{key}.wav"
            sf.write(path, audio.T, rate, subtype="FLOAT")
            lines[role].append(f"{key} {path}")
    for role, path in scps.items():
        path.write_text("\n".join(lines[role]) + "\n")
    return scps


def run_score(scps, out_dir, *extra):
    argv = ["--ref", str(scps["ref"]), "--est", str(scps["est"]), "--mix", str(scps["mix"]), "--out-dir", str(out_dir), *extra]
    return score.run(score.parse_args(argv), argv)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_outputs_and_formats(tmp_path):
    scps = make_set(tmp_path)
    out = tmp_path / "out"
    summary = run_score(scps, out, "--metrics", "snr,si_snr", "sdr", "stoi")
    rows = read_csv(out / "per_utt.csv")
    assert rows[0] == ["utt", "snr", "snri", "si_snr", "si_snri", "sdr", "sdri", "stoi"]
    assert [r[0] for r in rows[1:]] == ["utt0", "utt1", "utt2"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    snri = [float(r[2]) for r in rows[1:]]
    assert on_disk["snri"]["mean"] == pytest.approx(np.mean(snri), abs=1e-5)
    assert on_disk["snri"]["std"] == pytest.approx(np.std(snri), abs=1e-5)
    assert on_disk["snri"]["n"] == 3 and on_disk["snri"]["undefined"] == 0 and on_disk["snri"]["failed"] == 0
    assert on_disk["wrong_speaker_rate"] == 0.0 and on_disk["n_examples"] == 3 and on_disk["n_trimmed"] == 0
    assert not (out / "errors.txt").exists()
    info = json.loads((out / "score_info.json").read_text())
    assert info["command"].startswith("python -m tsepn.bin.score --ref") and info["est"] == str(scps["est"])
    # the values are the library's, computed on the same files
    ref = sf.read(tmp_path / "ref_utt1.wav", dtype="float32")[0]
    est = sf.read(tmp_path / "est_utt1.wav", dtype="float32")[0]
    assert float(rows[2][1]) == pytest.approx(metrics.snr(est, ref), abs=1e-5)


def test_default_metrics_include_binaural_extras_for_two_channels(tmp_path):
    scps = make_set(tmp_path, n_examples=1, channels=2)
    summary = run_score(scps, tmp_path / "out")
    assert {"pesq", "pesq_nb", "pesq_nb_raw", "stoi", "estoi", "sdri", "itd_err_us", "ild_err_db", "out_energy_rel_db",
            "dnsmos", "dnsmos_sig", "dnsmos_bak"} <= set(summary)
    assert summary["itd_err_us"]["mean"] == pytest.approx(0.0, abs=1e-9)


def test_mismatched_keys_are_listed_and_nothing_is_scored(tmp_path):
    scps = make_set(tmp_path)
    scps["est"].write_text(scps["est"].read_text().replace("utt1 ", "uttX "))
    with pytest.raises(score.ScoreError) as err:
        run_score(scps, tmp_path / "out")
    assert "missing: utt1" in str(err.value) and "extra key(s) not in" in str(err.value) and "uttX" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_length_mismatch_is_trimmed_with_a_warning(tmp_path, caplog):
    def shorten(key, role, audio, rate):
        return (audio[:, :-160] if key == "utt2" and role == "est" else audio), rate

    scps = make_set(tmp_path, tweak=shorten)
    with caplog.at_level(logging.WARNING, logger="tsepn.score"):
        summary = run_score(scps, tmp_path / "out", "--metrics", "snr")
    assert summary["n_trimmed"] == 1 and summary["snr"]["n"] == 3
    assert any("utt2: lengths differ" in r.getMessage() and "trimmed to 15840" in r.getMessage() for r in caplog.records)


def test_sample_rate_mismatch_is_an_error_naming_the_file(tmp_path):
    def resample_label(key, role, audio, rate):
        return audio, (8000 if key == "utt0" and role == "mix" else rate)

    scps = make_set(tmp_path, tweak=resample_label)
    with pytest.raises(score.ScoreError, match=r"mix_utt0\.wav .*8000 Hz, expected 16000 Hz"):
        run_score(scps, tmp_path / "out", "--metrics", "snr")
    assert score.main(["--ref", str(scps["ref"]), "--est", str(scps["est"]), "--mix", str(scps["mix"]), "--out-dir", str(tmp_path / "o2")]) == 1


def test_silent_reference_is_undefined_and_excluded_from_the_mean(tmp_path):
    def silence(key, role, audio, rate):
        return (np.zeros_like(audio) if key == "utt1" and role == "ref" else audio), rate

    scps = make_set(tmp_path, tweak=silence)
    summary = run_score(scps, tmp_path / "out", "--metrics", "snr", "si_snr")
    rows = {r[0]: r[1:] for r in read_csv(tmp_path / "out" / "per_utt.csv")[1:]}
    assert rows["utt1"] == ["", "", "", ""]
    assert summary["si_snri"]["n"] == 2 and summary["si_snri"]["undefined"] == 1 and summary["si_snri"]["failed"] == 0
    defined = [float(rows[k][3]) for k in ("utt0", "utt2")]
    assert summary["si_snri"]["mean"] == pytest.approx(np.mean(defined), abs=1e-5)
    assert not np.isnan(summary["si_snri"]["mean"])


def test_pesq_failure_is_recorded_not_fatal(tmp_path):
    scps = make_set(tmp_path, n_examples=2, samples=3000)  # 0.19 s: PESQ refuses, SNR is fine
    summary = run_score(scps, tmp_path / "out", "--metrics", "snr", "pesq")
    assert summary["pesq"]["n"] == 0 and summary["pesq"]["failed"] == 2 and summary["pesq"]["mean"] is None
    assert summary["snr"]["n"] == 2
    errors = (tmp_path / "out" / "errors.txt").read_text().splitlines()
    assert len(errors) == 2 and errors[0].startswith("utt0 pesq: BufferTooShortError")
    # a clean re-run removes the stale errors.txt
    run_score(scps, tmp_path / "out", "--metrics", "snr")
    assert not (tmp_path / "out" / "errors.txt").exists()


def test_wer_through_the_transcript_backend_and_unavailable_metrics(tmp_path):
    scps = make_set(tmp_path, n_examples=2)
    text = tmp_path / "text"
    text.write_text("utt0 HELLO WORLD\nutt1 GOOD MORNING ALL\n")
    hyp = tmp_path / "hyp"
    hyp.write_text("utt0 hello, world\nutt1 good evening\n")
    summary = run_score(
        scps, tmp_path / "out", "--metrics", "snr", "wer", "dnsmos", "--text", str(text), "--wer-reference",
        "transcript_if_whole", "--asr", "transcript", "--asr-opt", f"text={hyp}", "--dnsmos-model", str(tmp_path / "none.onnx"),
    )
    assert summary["wer"]["mean"] == pytest.approx((0.0 + 2 / 3) / 2)
    assert summary["computed"]["wer"].startswith("ASR transcript") and "transcript_if_whole" in summary["computed"]["wer"]
    assert "dnsmos" not in summary and "none.onnx: DNSMOS model file not found" in summary["unavailable"]["dnsmos"]
    # no back end: wer is unavailable, the other metrics are still scored
    summary = run_score(scps, tmp_path / "out2", "--metrics", "snr", "wer")
    assert "no ASR back end" in summary["unavailable"]["wer"] and summary["snr"]["n"] == 2
    # an example without an exact transcript gets an undefined cell, not an error
    text.write_text("utt0 HELLO WORLD\n")
    summary = run_score(scps, tmp_path / "out3", "--metrics", "wer", "--text", str(text), "--wer-reference",
                        "transcript_if_whole", "--asr", "transcript", "--asr-opt", f"text={hyp}")
    assert summary["wer"]["n"] == 1 and summary["wer"]["undefined"] == 1 and summary["wer"]["mean"] == 0.0
    # a transcript file with no words at all: unavailable, with the reason
    text.write_text("utt0 ...\nutt1\n")  # punctuation only; a key alone
    summary = run_score(scps, tmp_path / "out4", "--metrics", "snr", "wer", "--text", str(text), "--wer-reference",
                        "transcript_if_whole", "--asr", "transcript", "--asr-opt", f"text={hyp}")
    assert "no example has a reference transcript with words" in summary["unavailable"]["wer"]
    # declared by the recipe (the mini corpus has no words)
    summary = run_score(scps, tmp_path / "out5", "--metrics", "snr", "wer", "--unavailable", "wer=no words")
    assert summary["unavailable"] == {"wer": "no words"} and "wer" not in summary


def test_asr_that_cannot_run_is_unavailable_and_unknown_backend_is_an_error(tmp_path):
    scps = make_set(tmp_path, n_examples=1)
    for name, opts, needle in [
        ("whisper", ["--asr-opt", f"model={tmp_path / 'nope.pt'}"], "local openai-whisper checkpoint"),
        ("faster_whisper", [], "CTranslate2 Whisper model"),
        ("espnet", ["--asr-opt", f"config={tmp_path / 'c.yaml'}"], "ESPnet2 ASR model"),
    ]:
        summary = run_score(scps, tmp_path / name, "--metrics", "snr", "wer", "--asr", name, *opts)
        assert needle in summary["unavailable"]["wer"] and "nothing is downloaded" in summary["unavailable"]["wer"]
        assert summary["snr"]["n"] == 1
    with pytest.raises(score.ScoreError, match="unsupported ASR back end; known: .*pocketsphinx"):
        run_score(scps, tmp_path / "bad", "--metrics", "wer", "--asr", "kaldi")
    assert score.main(["--ref", str(scps["ref"]), "--est", str(scps["est"]), "--out-dir", str(tmp_path / "b2"),
                       "--metrics", "wer", "--asr", "kaldi"]) == 1


def test_parallel_jobs_give_the_same_table(tmp_path):
    scps = make_set(tmp_path, n_examples=4)
    run_score(scps, tmp_path / "one", "--metrics", "snr", "sdr")
    run_score(scps, tmp_path / "two", "--metrics", "snr", "sdr", "--nj", "2")
    assert (tmp_path / "one" / "per_utt.csv").read_text() == (tmp_path / "two" / "per_utt.csv").read_text()


def test_target_absent_set_scores_output_energy_only(tmp_path):
    """test_absent: silent references; the default metrics leave the reference-based columns
    undefined (not failed) and out_energy_rel_db measures how much of the mixture comes out."""
    from tsepn.bin import make_results

    def absent(key, role, audio, rate):
        if role == "ref":
            return np.zeros_like(audio), rate
        if role == "est":  # utt0 lets the mixture through at -6 dB, the others at -20 dB
            return audio * 0 + (0.5 if key == "utt0" else 0.1) * sf.read(tmp_path / f"mix_{key}.wav", dtype="float32")[0][None], rate
        return audio, rate

    scps = make_set(tmp_path, n_examples=3, samples=2 * SR)
    make_set(tmp_path, n_examples=3, samples=2 * SR, tweak=absent)  # rewrites ref/est from the written mixtures
    out = tmp_path / "exp" / "score_test_absent"
    summary = run_score(scps, out, "--metrics", "si_snr", "pesq_nb_raw", "stoi", "out_energy_rel_db")
    assert summary["si_snri"]["n"] == 0 and summary["si_snri"]["undefined"] == 3 and summary["si_snri"]["failed"] == 0
    assert summary["pesq_nb_raw"]["undefined"] == 3 and summary["stoi"]["undefined"] == 3
    assert summary["out_energy_rel_db"]["n"] == 3
    rows = {r[0]: r for r in read_csv(out / "per_utt.csv")[1:]}
    assert float(rows["utt0"][-1]) == pytest.approx(20 * np.log10(0.5), abs=1e-3)
    assert float(rows["utt1"][-1]) == pytest.approx(-20.0, abs=1e-3)
    assert summary["wrong_speaker_rate"] is None and not (out / "errors.txt").exists()
    assert make_results.main(["--exp-dir", str(tmp_path / "exp")]) == 0
    section = (tmp_path / "exp" / "RESULTS.md").read_text().split("## Target absent (test_absent)", 1)[1]
    assert f"| exp | {summary['out_energy_rel_db']['mean']:.2f} ± {summary['out_energy_rel_db']['std']:.2f} |" in section


def test_asr_transcripts_are_written_and_reference_transcripts_reused(tmp_path):
    scps = make_set(tmp_path, n_examples=2)
    hyp = tmp_path / "hyp"
    hyp.write_text("utt0 hello world\nutt1 good evening\n")
    first = tmp_path / "score_a"
    # the transcript back end answers the same for reference and estimate: WER 0 against the ASR of the reference
    summary = run_score(scps, first, "--metrics", "wer", "--asr", "transcript", "--asr-opt", f"text={hyp}")
    assert summary["wer"]["mean"] == 0.0
    assert (first / "asr_hyp.txt").read_text() == "utt0 hello world\nutt1 good evening\n"
    assert (first / "asr_ref.txt").read_text() == (first / "asr_hyp.txt").read_text()
    # reference transcripts of an earlier run are reused, not recognised again
    refs = tmp_path / "asr_ref.txt"
    refs.write_text("utt0 HELLO WORLD\nutt1 GOOD MORNING ALL\n")
    summary = run_score(scps, tmp_path / "score_b", "--metrics", "wer", "--asr", "transcript", "--asr-opt", f"text={hyp}",
                        "--asr-ref", str(refs))
    assert summary["wer"]["mean"] == pytest.approx((0.0 + 2 / 3) / 2)
    assert f"reference transcripts reused from {refs}" in summary["computed"]["wer"]
    assert (tmp_path / "score_b" / "asr_ref.txt").read_text() == refs.read_text()
    # a missing file: wer unavailable with the reason, nothing else lost
    summary = run_score(scps, tmp_path / "score_c", "--metrics", "snr", "wer", "--asr", "transcript", "--asr-opt",
                        f"text={hyp}", "--asr-ref", str(tmp_path / "nope.txt"))
    assert "nope.txt" in summary["unavailable"]["wer"] and summary["snr"]["n"] == 2
