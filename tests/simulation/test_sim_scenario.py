"""Scenario sampling: statistics over many specs, determinism, set separation, config and spec errors."""
import collections
import json

import numpy as np
import pytest
from sim_corpus import sampler, small_scenario

from tsepn.config import ConfigError
from tsepn.data.pools import PoolError
from tsepn.data.scenario import (
    INTERFERER_TYPES,
    SpecError,
    check_scenario,
    check_spec,
    load_simulate_conf,
    read_specs,
    spec_line,
)

N = 600


@pytest.fixture(scope="module")
def specs(corpus):
    smp = sampler(corpus, snr_db=[-2.5, 2.5], interferer_gain_db=[-4.0, 3.0])
    return smp, [smp.sample(i) for i in range(N)]


def by_role(spec, role):
    return [s for s in spec["sources"] if s["role"] == role]


def test_every_spec_is_valid_json_and_round_trips(specs):
    _, all_specs = specs
    for spec in all_specs[:50]:
        check_spec(spec)
        assert json.loads(spec_line(spec)) == spec


def test_speaker_counts_and_condition_tag(specs):
    _, all_specs = specs
    tags = collections.Counter(s["condition"] for s in all_specs)
    assert set(tags) == {"m2e2", "m2e3", "m3e2", "m3e3"}
    assert min(tags.values()) > N / 4 * 0.7  # uniform choice of [2, 3] x [2, 3]
    for spec in all_specs:
        n_mix, n_enr = int(spec["condition"][1]), int(spec["condition"][3])
        assert len(by_role(spec, "mixture_interferer")) == n_mix - 1
        assert len(by_role(spec, "enrollment_interferer")) == n_enr - 1


def test_interferer_types_follow_weights(specs):
    _, all_specs = specs
    types = collections.Counter(s["type"] for spec in all_specs for s in by_role(spec, "enrollment_interferer"))
    total = sum(types.values())
    assert set(types) == set(INTERFERER_TYPES)
    for kind in INTERFERER_TYPES:  # equal weights: a quarter each, give or take
        assert abs(types[kind] / total - 0.25) < 0.06, types


def test_exact_type_list_is_used(corpus):
    smp = sampler(corpus, enroll_speakers=[3], interferer_types=["neglect", "partial"])
    for i in range(40):
        kinds = [s["type"] for s in by_role(smp.sample(i), "enrollment_interferer")]
        assert kinds == ["neglect", "partial"]


def test_ranges_of_snr_gain_and_windows(specs):
    _, all_specs = specs
    snrs = np.array([s["snr_db"] for s in all_specs])
    assert snrs.min() >= -2.5 and snrs.max() <= 2.5 and snrs.max() - snrs.min() > 4.0
    gains = np.array([s["gain_db"] for spec in all_specs for s in spec["sources"][1:]])
    assert gains.min() >= -4.0 and gains.max() <= 3.0 and gains.max() - gains.min() > 6.0
    for spec in all_specs:
        n_pos, n_neg = spec["lengths"]["pos"], spec["lengths"]["neg"]
        for src in by_role(spec, "enrollment_interferer"):
            pos, neg = src["pos"], src["neg"]
            if src["type"] in ("partial", "hybrid"):
                assert 0.33 * n_pos - 1 <= pos["length"] <= 0.66 * n_pos + 1
            if src["type"] == "negative":
                assert pos["start"] == 0 and pos["length"] == n_pos
            if src["type"] == "neglect":
                assert pos is None
            if src["type"] == "partial":
                assert neg is None
            else:
                assert 0.33 * n_neg - 1 <= neg["length"] <= n_neg
            for p in (pos, neg):
                if p:
                    assert p["start"] + p["length"] <= (n_pos if p is pos else n_neg)


def test_negative_enrollment_never_holds_the_target(specs):
    _, all_specs = specs
    for spec in all_specs:
        in_neg = [s["speaker"] for s in spec["sources"] if s["neg"] is not None]
        assert spec["target_speaker"] not in in_neg
        target = spec["sources"][0]
        assert target["speaker"] == spec["target_speaker"] and target["neg"] is None
        assert target["mix"]["length"] == spec["lengths"]["mix"] and target["pos"]["length"] == spec["lengths"]["pos"]


def test_target_mixture_and_enrollment_use_different_utterances(specs):
    _, all_specs = specs
    for spec in all_specs:
        target = spec["sources"][0]
        assert not set(target["mix"]["utts"]) & set(target["pos"]["utts"])


def test_mixture_and_enrollment_interferers_are_different_people(specs):
    _, all_specs = specs
    for spec in all_specs:
        mix = {s["speaker"] for s in by_role(spec, "mixture_interferer")}
        enr = {s["speaker"] for s in by_role(spec, "enrollment_interferer")}
        speakers = [s["speaker"] for s in spec["sources"]]
        assert not mix & enr
        assert len(speakers) == len(set(speakers))


def test_enrollment_interferers_from_mixture_when_configured(corpus):
    smp = sampler(corpus, mix_speakers=[3], enroll_speakers=[2], enroll_interferers_from_mixture=True)
    for i in range(30):
        spec = smp.sample(i)
        mix = {s["speaker"] for s in by_role(spec, "mixture_interferer")}
        assert {s["speaker"] for s in by_role(spec, "enrollment_interferer")} <= mix


def test_noise_reads_consecutive_stretches_of_one_file(specs):
    smp, all_specs = specs
    for spec in all_specs[:100]:
        picks = spec["noise"]
        assert len({p["utt"] for p in picks.values()}) == 1
        size = smp.noise.samples[picks["mix"]["utt"]]
        assert picks["pos"]["offset"] == (picks["mix"]["offset"] + spec["lengths"]["mix"]) % size


def test_same_seed_same_specs_whatever_the_order(corpus):
    a, b = sampler(corpus, seed=7), sampler(corpus, seed=7)
    forward = [a.sample(i) for i in range(20)]
    backward = [b.sample(i) for i in reversed(range(20))][::-1]
    assert forward == backward
    assert sampler(corpus, seed=8).sample(3) != forward[3]
    assert a.sample(3, epoch=1)["sources"] != forward[3]["sources"]


def test_each_set_draws_only_its_own_speakers_and_noise(corpus):
    for split, noise in (("train", "noise_tr"), ("dev", "noise_cv"), ("test", "noise_tt")):
        smp = sampler(corpus, split, noise)
        for i in range(40):
            spec = smp.sample(i)
            assert all(s["speaker"].startswith(split) for s in spec["sources"])
            assert all(p["utt"].startswith(noise) for p in spec["noise"].values())


def test_one_example_per_target_speaker(corpus):
    from tsepn.data.scenario import sample_set

    smp = sampler(corpus)
    specs = sample_set(smp, 0)
    assert [s["target_speaker"] for s in specs] == smp.targets


def test_too_few_speakers_is_a_clear_error(corpus):
    with pytest.raises(PoolError, match="usable speaker"):
        sampler(corpus, "dev", "noise_cv", mix_speakers=[3], enroll_speakers=[4])  # 5 speakers, 6 needed
    assert len(sampler(corpus, "dev", "noise_cv", mix_speakers=[3], enroll_speakers=[3]).interferers) == 5


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "sim.yaml"
    bad.write_text("scenario: {snr_db: [3, -3]}\n")
    with pytest.raises(ConfigError, match="snr_db"):
        load_simulate_conf(bad)
    bad.write_text("scenario: {snr: [0, 1]}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_simulate_conf(bad)
    bad.write_text("sets:\n  - {name: a, speech: test, noise: noise_tt, seed: 1, scenario: {mix_secs: 6}}\n")
    with pytest.raises(ConfigError, match=r"sets\[a\].scenario.*mix_secs"):
        load_simulate_conf(bad)
    with pytest.raises(ConfigError, match="interferer_types"):
        check_scenario(small_scenario(enroll_speakers=[2, 3], interferer_types=["partial"]), "x")
    with pytest.raises(ConfigError, match="unknown interferer type"):
        check_scenario(small_scenario(type_weights={"sometimes": 1.0}), "x")


def test_recipe_configs_load():
    from pathlib import Path

    conf_dir = Path(__file__).resolve().parents[2] / "egs/librispeech_wham/mono/conf"
    mini = load_simulate_conf(conf_dir / "simulate.yaml")
    paper = load_simulate_conf(conf_dir / "simulate_paper.yaml")
    names = [s.name for s in mini.sets]
    tests = ["test_m2e2", "test_m2e3", "test_m3e2", "test_m3e3"]
    assert names == ["dev_m2e2", *tests, *[f"{t}_cand" for t in tests], "test_absent"]
    # the candidate sets redraw the test sets (same seeds) and add candidate references
    by_name = {s.name: s for s in mini.sets}
    for t in tests:
        assert by_name[f"{t}_cand"].seed == by_name[t].seed
        assert by_name[f"{t}_cand"].scenario["candidate_count"] > 0 and "candidate_count" not in by_name[t].scenario
    assert [s.num_examples for s in paper.sets[1:5]] == [5000] * 4
    assert mini.scenario.snr_db == [-2.5, 2.5] and mini.scenario.sample_rate == 16000


def test_malformed_spec_line_names_file_and_line(tmp_path, specs):
    _, all_specs = specs
    path = tmp_path / "scenarios.jsonl"
    broken = dict(all_specs[1])
    broken["sources"] = [dict(broken["sources"][0], neg=broken["sources"][0]["pos"])] + broken["sources"][1:]
    path.write_text(spec_line(all_specs[0]) + "{not json\n")
    with pytest.raises(SpecError, match=r"scenarios.jsonl:2:"):
        list(read_specs(path))
    path.write_text(spec_line(all_specs[0]) + spec_line(all_specs[2]) + spec_line(broken))
    with pytest.raises(SpecError, match=r"scenarios.jsonl:3: .*negative enrollment"):
        list(read_specs(path))
    missing = {k: v for k, v in all_specs[0].items() if k != "snr_db"}
    path.write_text(spec_line(missing))
    with pytest.raises(SpecError, match=r":1: .*snr_db"):
        list(read_specs(path))
