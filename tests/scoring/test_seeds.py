"""make_results --seeds: per-run figures, mean and spread over training seeds, the demo's check."""
from test_results import fake_score_dir
from tsepn.bin import make_results


def test_seed_table_mean_spread_and_check(tmp_path):
    runs = []
    for seed, (m2e2, m3e3) in enumerate(((4.0, 3.5), (5.0, 2.5), (6.0, 4.5))):
        root = tmp_path / f"proposed_seed{seed}" / "stage2"
        fake_score_dir(root / "score_test_m2e2", si_snri=m2e2)
        fake_score_dir(root / "score_test_m2e2_wrong_enroll", si_snri=-1.0)
        fake_score_dir(root / "score_test_m3e3", si_snri=m3e3)
        fake_score_dir(root / "score_test_m3e3_wrong_enroll", si_snri=0.0)
        runs.append(f"seed{seed}={root}")
    out = tmp_path / "RESULTS_seeds.md"
    assert make_results.main(["--seeds", "--out", str(out), "--min-db", "3", "--min-gap-db", "3", *runs]) == 0
    rows = {line.split(" | ")[0]: line for line in out.read_text().splitlines() if line.startswith("| ")}
    m2e2 = next(v for k, v in rows.items() if "test_m2e2" in k)
    # per run correct / wrong / gap, then mean ± sample std (worst run)
    assert "| 4.00 / -1.00 / 5.00 | 5.00 / -1.00 / 6.00 | 6.00 / -1.00 / 7.00 |" in m2e2
    assert "| 5.00 ± 1.00 (worst 4.00) | 6.00 ± 1.00 (worst 5.00) | yes |" in m2e2
    m3e3 = next(v for k, v in rows.items() if "test_m3e3" in k)
    assert "2.50 / 0.00 / 2.50" in m3e3 and m3e3.endswith("| NO |")  # seed 1 misses both bounds
    assert "NOT met (1 of 2 conditions)" in out.read_text()


def test_seed_table_errors(tmp_path):
    (tmp_path / "a").mkdir()
    assert make_results.main(["--seeds", "--out", str(tmp_path / "R.md"), f"a={tmp_path / 'a'}"]) == 1  # nothing scored
    assert make_results.main(["--seeds", f"a={tmp_path / 'a'}"]) == 1  # no --out
    assert make_results.main(["--seeds", "--compare", "--out", str(tmp_path / "R.md"), f"a={tmp_path / 'a'}"]) == 1
    assert not (tmp_path / "R.md").exists()
