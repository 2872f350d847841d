"""RESULTS.md from fake score directories: layout, paper numbers, controls, plot, provenance."""
import json

import pytest

from tsepn.bin import make_results
from tsepn.scoring.paper_numbers import CONDITIONS, PAPER_NUMBERS, paper_for_system, paper_number
from tsepn.scoring.results import PLOT_NAME, ResultsError


def fake_score_dir(directory, si_snri, snri=10.0, extra=None, per_utt=True):
    directory.mkdir(parents=True)
    summary = {
        "snri": {"mean": snri, "std": 2.0, "n": 4, "undefined": 0, "failed": 0},
        "si_snri": {"mean": si_snri, "std": 3.0, "n": 4, "undefined": 0, "failed": 0},
        "sdri": {"mean": si_snri + 0.5, "std": 3.5, "n": 4, "undefined": 0, "failed": 0},
        "pesq": {"mean": 2.5, "std": 0.4, "n": 3, "undefined": 0, "failed": 1},
        "pesq_nb_raw": {"mean": 1.9, "std": 0.3, "n": 4, "undefined": 0, "failed": 0},
        "computed": {"wer": "ASR pocketsphinx; reference = asr_of_reference", "dnsmos": "DNSMOS P.835, non-personalised, speechmos sig_bak_ovr.onnx"},
        "wrong_speaker_rate": 0.25,
        "n_examples": 4,
        "n_trimmed": 0,
        **(extra or {}),
    }
    (directory / "summary.json").write_text(json.dumps(summary))
    if per_utt:
        values = [si_snri - 3, si_snri - 1, si_snri + 1, si_snri + 3]
        rows = "".join(f"u{i},{v},\n" for i, v in enumerate(values))
        (directory / "per_utt.csv").write_text("utt,si_snri,pesq\n" + rows)
    (directory / "score_info.json").write_text(json.dumps({"command": f"python -m tsepn.bin.score --out-dir {directory}", "est": ""}))


def test_results_table_layout_and_paper_numbers(tmp_path):
    exp = tmp_path / "exp" / "improved_mono"
    for i, condition in enumerate(CONDITIONS):
        extra = {"unavailable": {"wer": "no words"}} if i == 0 else None
        fake_score_dir(exp / f"score_test_{condition}", si_snri=11.0 - i, per_utt=(i % 2 == 0), extra=extra)
    absent = exp / "score_test_absent"
    absent.mkdir()
    (absent / "summary.json").write_text(json.dumps({
        "out_energy_rel_db": {"mean": -6.5, "std": 2.0, "n": 4, "undefined": 0, "failed": 0}, "n_examples": 4}))
    fake_score_dir(exp / "score_test_m2e2_wrong_enroll", si_snri=-7.5)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    rc = make_results.main(
        ["--exp-dir", str(exp), "--paper", "improved", "--command", "./run.sh --stage 8", "--checkpoint", str(checkpoint)]
    )
    assert rc == 0
    text = (exp / "RESULTS.md").read_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| metric |"))
    assert header == (
        "| metric | how computed | vs paper | 2 spk mix / 2 spk enroll | 2 spk mix / 3 spk enroll | 3 spk mix / 2 spk enroll "
        "| 3 spk mix / 3 spk enroll |"
    )
    si_row = next(line for line in lines if line.startswith("| SI-SNRi (dB) |"))
    assert "11.00 ± 3.00 (paper 11.76 ± 5.56)" in si_row and "8.00 ± 3.00 (paper 10.91 ± 6.40)" in si_row
    sdr_row = next(line for line in lines if line.startswith("| SDRi"))
    assert '"SISDRi"' in sdr_row and "(paper 12.51 ± 5.04)" in sdr_row
    # published-only metrics appear with our cell empty
    dnsmos_row = next(line for line in lines if line.startswith("| DNSMOS OVRL"))
    assert "— (paper 2.80 ± 0.33)" in dnsmos_row
    # every PESQ row is labelled; the paper's (raw narrow-band) number sits beside pesq_nb_raw only
    wb_row = next(line for line in lines if line.startswith("| PESQ WB |"))
    assert "wide band" in wb_row and "not comparable" in wb_row and "(paper" not in wb_row
    raw_row = next(line for line in lines if line.startswith("| PESQ NB raw"))
    assert "1.90 ± 0.30 (paper 2.61 ± 0.42)" in raw_row and "| comparable (pypesq's number) |" in raw_row
    # how each row was computed comes from the scorer's record when there is one
    wer_row = next(line for line in lines if line.startswith("| WER |"))
    assert "ASR pocketsphinx; reference = asr_of_reference" in wer_row and "not comparable" in wer_row
    # a metric the set could not have is n/a with the reason
    assert "n/a (no words)" in wer_row
    assert "| comparable (speechmos OVRL, as the authors) |" in dnsmos_row
    assert "| wrong-speaker rate (SI-SNRi < 0 dB) | share of examples | — | 25.0% |" in text
    # failures are surfaced, not hidden in the mean
    assert "m2e2 pesq: 0 undefined, 1 failed" in text
    # wrong-enrollment controls in a table of their own, without paper numbers
    control = text.split("wrong-enrollment controls", 1)[1]
    assert "-7.50 ± 3.00" in control and "(paper" not in control.split("## How")[0]
    # the target-absent test has its own section
    section = text.split("## Target absent (test_absent)", 1)[1].split("## How")[0]
    assert "| improved_mono | -6.50 ± 2.00 |" in section
    # provenance
    assert "./run.sh --stage 8" in text and "sha256" in text and "score_test_m3e3" in text
    png = exp / PLOT_NAME
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({PLOT_NAME})" in text


def test_missing_conditions_and_several_models(tmp_path):
    exp = tmp_path / "exp" / "compare"
    fake_score_dir(exp / "a" / "score_test_m2e2", si_snri=9.0)
    fake_score_dir(exp / "b" / "score_test_m2e2", si_snri=4.0)
    rc = make_results.main(
        ["--exp-dir", str(exp), "--model", f"ours={exp / 'a'}", "--model", f"tce_rerun={exp / 'b'}", "--paper", "tce_rerun=tce"]
    )
    assert rc == 0
    text = (exp / "RESULTS.md").read_text()
    assert "## ours\n" in text and "## tce_rerun (compared with the paper's 'tce')" in text
    assert "not scored: test_m2e3, test_m3e2, test_m3e3" in text
    tce = text.split("## tce_rerun", 1)[1]
    assert "4.00 ± 3.00 (paper 6.67 ± 3.69)" in tce


def test_no_scores_is_an_error(tmp_path):
    assert make_results.main(["--exp-dir", str(tmp_path / "empty")]) == 1
    with pytest.raises(ResultsError, match="unknown"):
        make_results.build_models(make_results.parse_args(["--exp-dir", str(tmp_path), "--paper", "gpt"]))


def test_paper_numbers_module():
    assert paper_number("improved", "m3e3", "sdri") == (11.62, 5.86)
    assert paper_number("proposed", "m2e2", "si_snri") == (8.85, 3.67)
    assert paper_number("proposed", "m3e3", "snri") is None
    assert paper_number(None, "m2e2", "snri") is None
    assert "si_sdri" not in PAPER_NUMBERS["improved"]["m2e2"]  # their "SISDRi" is a BSS SDRi
    # the paper's PESQ is pypesq's raw narrow-band score: stored beside pesq_nb_raw, never wide-band pesq
    assert paper_number("proposed", "m2e2", "pesq_nb_raw") == (2.07, None) and paper_number("proposed", "m2e2", "pesq") is None
    assert paper_for_system("proposed") == "proposed" and paper_for_system("proposed_paper") == "proposed"
    assert paper_for_system("USEF_TFGridNet") == "usef_tfgridnet" and paper_for_system("voicefilter") is None
