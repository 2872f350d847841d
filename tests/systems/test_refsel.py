"""Reference selection: candidates, selection modes, tiny forward/backward, oracle report, paper-size build."""
import pytest
import torch

from systems_helpers import ENROLL, MIX, SPEX_TINY, audio, check_interface_and_gradients, parameter_count
from tsepn.models import build_model
from tsepn.models.baselines.refsel import cut_candidates, oracle_report

TINY = dict(SPEX_TINY, num_candidates=3, candidate_seconds=0.0625)  # 1000-sample windows


@pytest.mark.parametrize("selection", ["weighted", "best"])
def test_tiny_forward_backward_reaches_every_parameter(selection):
    model, outputs, no_grad = check_interface_and_gradients("refsel", dict(TINY, selection=selection))
    assert no_grad == []
    weights = outputs["selection_weights"]
    assert weights.shape == (2, 4)  # 3 windows + the whole enrollment
    assert torch.allclose(weights.sum(-1), torch.ones(2))
    if selection == "best":
        # one-hot per example; the straight-through estimator (hard + soft - soft.detach()) may leave 1 - 6e-8
        hard = weights.detach().round()
        assert torch.allclose(weights.detach(), hard, atol=1e-6) and torch.equal(hard.sum(-1), torch.ones(2))
    assert set(model.param_groups()) == {"speaker", "selector", "main"}


def test_candidates_are_evenly_spaced_windows_of_the_enrollment():
    pos = torch.arange(10.0).view(1, 1, 10)
    windows = cut_candidates(pos, 3, 4)
    assert windows.shape == (1, 3, 1, 4)
    assert windows[0, :, 0, 0].tolist() == [0.0, 3.0, 6.0]
    short = cut_candidates(torch.ones(1, 1, 3), 2, 5)  # shorter than a window: zero-padded
    assert short[0, 0, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_best_selection_conditions_on_one_candidate():
    model = build_model("refsel", **dict(TINY, selection="best")).eval()
    mix, pos = audio(1, MIX), audio(1, ENROLL, seed=3)
    with torch.no_grad():
        out, _ = model(mix, model.encode(pos))
        candidates = model.candidate_embeddings(pos)
        best = model.scores(candidates, model.embed(mix)).argmax(-1)
        alone = model.extract_with(mix, candidates[:, int(best)])[0]
    assert torch.allclose(out, alone, atol=1e-6)


def test_oracle_report_is_at_least_the_selection():
    model = build_model("refsel", **TINY).eval()
    mix, pos, ref = audio(2, MIX), audio(2, ENROLL, seed=1), audio(2, MIX, seed=4)
    report = oracle_report(model, mix, pos, ref)
    assert report["per_candidate"].shape == (2, 4)
    assert bool((report["oracle"] >= report["selected"]).all())
    assert torch.equal(report["oracle"], report["per_candidate"].max(-1).values)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="selection must be one of weighted, best"):
        build_model("refsel", **dict(TINY, selection="mean"))


def test_paper_size_dry_build():
    count = parameter_count(build_model("refsel", num_speakers=251))
    print(f"refsel paper size: {count} parameters")
    assert 10.9e6 < count < 11.7e6  # SpEx+ plus a ~0.1 M selector


def test_oracle_evaluation_summary():
    from tsepn.bin.refsel_oracle import evaluate

    model = build_model("refsel", **TINY).eval()
    items = [{"key": f"ex{i}", "mix": audio(1, MIX, seed=i)[0], "pos": audio(1, ENROLL, seed=10 + i)[0],
              "ref": audio(1, MIX, seed=20 + i)[0]} for i in range(3)]
    with torch.no_grad():
        summary = evaluate(model, items, max_examples=2)
    assert summary["n_examples"] == 2 and [r["key"] for r in summary["examples"]] == ["ex0", "ex1"]
    assert summary["si_sdr_oracle"] >= summary["si_sdr_selected"]
    assert 0.0 <= summary["selected_is_oracle"] <= 1.0
    assert all(len(r["per_candidate"]) == 4 for r in summary["examples"])


def test_rendered_candidates_are_read_and_windows_of_pos_are_the_fallback():
    model = build_model("refsel", **dict(TINY, rendered_candidates=True))
    assert model.inputs == ("mix", "pos", "candidates")
    mix, pos = audio(2, MIX), audio(2, ENROLL, seed=1)
    cands = torch.stack([audio(2, 1200, seed=5 + k) for k in range(2)], dim=1)  # [B, K=2, C, L]
    outputs = model.train_outputs({"mix": mix, "pos": pos, "candidates": cands})
    assert outputs["selection_weights"].shape == (2, 3)  # 2 rendered + the whole enrollment
    outputs["wave"].sum().backward()
    assert model.speaker.parameters().__next__().grad is not None
    assert model.encode(pos)["candidates"].shape[1] == TINY["num_candidates"] + 1  # decoding: windows of pos
    report = oracle_report(model.eval(), mix, pos, mix, cands)
    assert report["per_candidate"].shape == (2, 3)
    with pytest.raises(ValueError, match="candidates must be"):
        model.candidate_embeddings(pos, cands[0])
