"""make_results --compare: several systems side by side with controls and the paper's rows."""
import json

import pytest

from test_results import fake_score_dir
from tsepn.bin import make_results


def test_compare_systems_side_by_side(tmp_path):
    proposed = tmp_path / "exp" / "proposed" / "stage2"
    tce = tmp_path / "exp" / "tce" / "train"
    mine = tmp_path / "exp" / "my_net" / "train"
    for root, si in ((proposed, 8.0), (tce, 6.0), (mine, 3.0)):
        fake_score_dir(root / "score_test_m2e2", si_snri=si)
        fake_score_dir(root / "score_test_m2e2_wrong_enroll", si_snri=si - 12.0)
    fake_score_dir(proposed / "score_test_m3e3", si_snri=7.0, extra={"unavailable": {"wer": "no words"}})
    (proposed / "score_test_absent").mkdir()
    (proposed / "score_test_absent" / "summary.json").write_text(json.dumps(
        {"out_energy_rel_db": {"mean": -9.25, "std": 1.5, "n": 3, "undefined": 0, "failed": 0}, "n_examples": 3}))
    out = tmp_path / "exp" / "RESULTS.md"
    assert make_results.main(["--compare", "--out", str(out), f"proposed={proposed}", f"tce={tce}", f"my_net={mine}"]) == 0
    text = out.read_text()
    m2e2 = text.split("## 2 spk mix / 2 spk enroll (test_m2e2)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in m2e2.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| system | SI-SNRi (dB) | SNRi (dB) |") and "wrong enrollment" in rows[0]
    # systems in the order given, each with its control beside it
    assert rows[1].startswith("| proposed | 8.00 ± 3.00 | 10.00 ± 2.00 |") and "| -4.00 ± 3.00 | 25.0% | 4 |" in rows[1]
    assert rows[2].startswith("| tce | 6.00 ± 3.00 |") and rows[3].startswith("| my_net | 3.00 ± 3.00 |")
    # the paper's rows for the systems it reports, none for the others
    assert rows[4].startswith("| paper: proposed (pos/neg enrollment) | 8.85 ± 3.67 | 10.14 ± 2.57 |") and "| 2.07 |" in rows[4]
    assert rows[5].startswith("| paper: TCE | 6.67 ± 3.69 |") and len(rows) == 6
    # a condition only one system scored; the paper has no number there
    m3e3 = text.split("(test_m3e3)", 1)[1].split("\n## ", 1)[0]
    assert "| proposed | 7.00 ± 3.00 |" in m3e3 and "n/a (no words)" in m3e3 and "| tce | — |" in m3e3 and "not scored" in m3e3
    assert "paper:" not in m3e3
    # legend and target-absent table
    legend = text.split("## How each column was computed", 1)[1]
    assert "| PESQ NB raw (the paper's PESQ) |" in legend and "comparable (pypesq's number)" in legend
    assert "| proposed | -9.25 ± 1.50 |" in text.split("## Target absent (test_absent)", 1)[1]
    assert "Not scored: proposed: score_test_m2e3" in text


def test_compare_errors(tmp_path):
    (tmp_path / "a").mkdir()
    assert make_results.main(["--compare", "--out", str(tmp_path / "R.md"), f"a={tmp_path / 'a'}"]) == 1  # nothing scored
    assert make_results.main(["--compare", "--out", str(tmp_path / "R.md"), "a"]) == 1
    assert make_results.main(["--compare", "--out", str(tmp_path / "R.md"), f"a={tmp_path / 'missing'}"]) == 1
    assert make_results.main(["--compare", f"a={tmp_path / 'a'}"]) == 1  # no --out
    assert make_results.main([f"a={tmp_path / 'a'}"]) == 1  # positional systems without --compare
    assert not (tmp_path / "R.md").exists()
    fake_score_dir(tmp_path / "b" / "score_test_m2e2", si_snri=5.0)
    out = tmp_path / "R.md"
    assert make_results.main(["--compare", "--out", str(out), "--paper", "b=nmf", f"b={tmp_path / 'b'}"]) == 0
    assert "| paper: NMF | -1.65 ± 3.78 |" in out.read_text()
    with pytest.raises(SystemExit):
        make_results.parse_args(["--compare", "--bogus"])
