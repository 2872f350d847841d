"""The authors' published checkpoints load and reproduce the authors' outputs (golden fixture)."""
from __future__ import annotations

import pytest
import torch

from tsepn.models import build_model
from tsepn.models.checkpoint import load_model

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture_io(upstream_dir):
    return torch.load(upstream_dir / "proposed-monaural.io.pt", weights_only=True)


@pytest.fixture(scope="module")
def published(upstream_dir):
    return load_model(upstream_dir / "proposed-monaural.pt", arch="proposed-monaural").eval()


@pytest.fixture(scope="module")
def encoded(published, fixture_io):
    """encode() once for all tests (embed() == encode().embedding is checked in test_registry)."""
    with torch.inference_mode():
        return published.encode(fixture_io["pos"], fixture_io["neg"])


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_embedding_matches(encoded, fixture_io):
    assert max_error(encoded.embedding, fixture_io["cond_emb"]) <= TOLERANCE


def test_whole_and_chunked_outputs_match(published, encoded, fixture_io):
    mix, cond = fixture_io["mix"], encoded
    with torch.inference_mode():
        whole, _ = published(mix, cond, published.init_state(1))
        state, pieces = None, []
        for chunk in mix.split(16000, dim=-1):
            out, state = published(chunk, cond, state)
            pieces.append(out)
    assert max_error(whole, fixture_io["out_full"]) <= TOLERANCE
    assert max_error(torch.cat(pieces, dim=-1), fixture_io["out_chunked_1s"]) <= TOLERANCE


def _key_lines(model) -> list:
    return [f"{name} {'x'.join(map(str, t.shape))} {str(t.dtype).removeprefix('torch.')}"
            for name, t in model.state_dict().items()]


@pytest.mark.parametrize("arch", ["proposed-monaural", "proposed-binaural"])
def test_parameter_names_and_shapes(arch, upstream_dir):
    expected = (upstream_dir / f"{arch}.keys.txt").read_text().split("\n")
    assert _key_lines(build_model(arch)) == [line for line in expected if line.strip()]


def test_binaural_runs_two_channels_in_and_out():
    model = build_model("proposed-binaural").eval()
    assert model.fusions[0].pooling_size == 20 and model.fusions[0].pooling_stride == 20
    pos, neg, mix = torch.randn(1, 2, 1344), torch.randn(1, 2, 1344), torch.randn(1, 2, 1024)  # 22 enrollment frames
    with torch.inference_mode():
        out, _ = model(mix, model.encode(pos, neg))
    assert out.shape == (1, 2, 1024) and torch.isfinite(out).all()
