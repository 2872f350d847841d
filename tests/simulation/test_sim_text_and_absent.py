"""Rendered sets' transcripts (`text`, `target_cover`) and the target-absent condition."""
from pathlib import Path

import numpy as np
import pytest
from sim_corpus import sampler

from tsepn.audio import read_audio
from tsepn.data.render import Renderer
from tsepn.data.scenario import check_spec, load_simulate_conf, read_specs
from tsepn.data.sets import make_wrong_enroll, render_set, target_cover, target_transcript
from tsepn.fileio import read_table

REPO = Path(__file__).resolve().parents[2]


def test_target_cover_cases():
    lengths = {"a": 100, "b": 50}
    place = lambda utts, offset, length: {"utts": utts, "offset": offset, "start": 0, "length": length, "brir": None}  # noqa: E731
    assert target_cover(place(["a", "b"], 0, 150), lengths) == "whole"
    assert target_cover(place(["a", "b"], 0, 120), lengths) == "cut"
    assert target_cover(place(["a", "b"], 10, 140), lengths) == "cut"
    assert target_cover(place(["a", "b"], 10, 141), lengths) == "repeated"
    assert target_cover(place(["a"], 0, 300), lengths) == "repeated"
    assert target_cover(None, lengths) == "absent"
    spec = {"sources": [{"mix": place(["a", "b"], 0, 150)}]}
    assert target_transcript(spec, lengths, {"a": "HELLO  THERE", "b": "WORLD"}) == ("whole", "HELLO THERE WORLD")
    assert target_transcript(spec, lengths, {"a": "HELLO"}) == ("whole", None)  # b has no transcript
    spec["sources"][0]["mix"]["length"] = 149
    assert target_transcript(spec, lengths, {"a": "HELLO", "b": "WORLD"}) == ("cut", None)


def _whole(spec, renderer):
    """The spec with its target placed as its first utterance, whole, at the start of the mixture."""
    placement = spec["sources"][0]["mix"]
    utt = placement["utts"][0]
    length = renderer.speech_pool(spec).utts[utt].length
    assert length <= spec["lengths"]["mix"]
    spec["sources"][0]["mix"] = dict(placement, utts=[utt], offset=0, start=0, length=length)
    check_spec(spec)
    return spec


def test_rendered_set_has_text_only_for_whole_targets(corpus, tmp_path):
    smp = sampler(corpus, seed=5, mix_seconds=4.0, mix_speakers=[2], enroll_speakers=[2])
    specs = [smp.sample(i) for i in range(4)]
    renderer = Renderer()
    renderer.render(specs[0])  # loads the pool
    specs[1] = _whole(specs[1], renderer)
    out = render_set(specs, tmp_path / "test_w", "flac", progress=False)
    cover = read_table(out / "target_cover")
    assert sorted(cover) == sorted(s["id"] for s in specs)
    assert cover[specs[1]["id"]] == "whole" and set(cover.values()) - {"whole"} <= {"cut", "repeated"}
    whole = [k for k, v in cover.items() if v == "whole"]
    assert read_table(out / "text") == {k: "SOME TEXT" for k in whole}  # the corpus transcript, whole examples only
    wrong = make_wrong_enroll(out, tmp_path / "test_w_wrong_enroll")
    assert read_table(wrong / "text") == read_table(out / "text")  # same mixtures, same words
    assert read_table(wrong / "target_cover") == cover


def test_target_absent_examples(corpus, tmp_path):
    usual = sampler(corpus, seed=7, mix_speakers=[2], enroll_speakers=[2])
    absent = sampler(corpus, seed=7, mix_speakers=[2], enroll_speakers=[2], target_absent=True)
    specs = [absent.sample(i) for i in range(3)]
    for i, spec in enumerate(specs):
        reference = usual.sample(i)
        assert spec["sources"][0]["mix"] is None and spec["sources"][0]["pos"] == reference["sources"][0]["pos"]
        assert spec["sources"][1:] == reference["sources"][1:]  # the same interferers, enrollments and noise
        check_spec(spec)
    out = render_set(specs, tmp_path / "test_absent", "flac", progress=False)
    assert [s["sources"][0]["mix"] for s in read_specs(out / "scenarios.jsonl")] == [None] * 3
    assert set(read_table(out / "target_cover").values()) == {"absent"} and read_table(out / "text") == {}
    for spec in specs:
        key = spec["id"]
        ref, _ = read_audio(read_table(out / "ref.scp")[key])
        mix, _ = read_audio(read_table(out / "mix.scp")[key])
        pos, _ = read_audio(read_table(out / "pos_clean.scp")[key])
        assert not np.any(ref) and np.mean(mix**2) > 1e-6 and np.mean(pos**2) > 1e-6
    # the noise keeps the level it has when the target talks: same rendering of the noise-only parts
    renderer = Renderer()
    with_target = renderer.render(usual.sample(0))
    without = renderer.render(specs[0])
    noise_usual = with_target.mix - sum(with_target.images["mix"].values())
    noise_absent = without.mix - sum(without.images["mix"].values())
    assert np.mean(noise_absent**2) == pytest.approx(np.mean(noise_usual**2), rel=0.25)


def test_recipe_configs_render_a_target_absent_test_set():
    for name in ("simulate.yaml", "simulate_paper.yaml"):
        conf = load_simulate_conf(REPO / "egs" / "librispeech_wham" / "mono" / "conf" / name)
        [absent] = [s for s in conf.sets if s.name == "test_absent"]
        assert absent.scenario["target_absent"] is True and not absent.wrong_enroll
