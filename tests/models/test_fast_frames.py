"""The compiled one-frame inference step (tsepn.models.kernels) computes what the torch path computes.

It is taken only for one-frame calls under inference mode; anything else (no_grad, as in
validation during training, or grad) must stay on the torch path bit for bit.
"""
from __future__ import annotations

from unittest import mock

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, seeded_audio, tiny_args
from tsepn.models import build_model, kernels
from tsepn.models.tfgridnet import fast_frames

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed: no compiled path to compare")

HOP = 16  # tiny model: n_fft 32, hop 16


def stream(model, mix, cond, sizes):
    state, outs = None, []
    for piece in mix.split(sizes, dim=-1):
        out, state = model(piece, cond, state)
        outs.append(out)
    return torch.cat(outs, dim=-1), state


def frame_calls(framing: str, total: int):
    """Chunk sizes of one frame each: a hop when framing runs on, n_fft when each call frames itself."""
    size = HOP if framing == "streaming" else 2 * HOP
    return [size] * (total // size)


@pytest.mark.parametrize("channels,batch,framing,normalization",
                         [(1, 1, "upstream", "per_call"), (2, 2, "upstream", "per_call"),
                          (1, 2, "streaming", "none"), (2, 1, "streaming", "enrollment")])
def test_one_frame_calls_match_the_torch_path(channels, batch, framing, normalization):
    model = build_model("posneg", **tiny_args(channels=channels, framing=framing,
                                               normalization=normalization)).eval()
    mix = seeded_audio(batch, channels, 640, seed=3)
    sizes = frame_calls(framing, 640)
    with torch.inference_mode():
        cond = model.encode(seeded_audio(batch, channels, ENROLL_SAMPLES),
                            seeded_audio(batch, channels, ENROLL_SAMPLES, seed=1))
        fast, fast_state = stream(model, mix, cond, sizes)
        with fast_frames(False):
            slow, slow_state = stream(model, mix, cond, sizes)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)
    for a, b in zip(fast_state.blocks, slow_state.blocks):
        for name in ("h", "c", "keys", "values"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=1e-5)
    torch.testing.assert_close(fast_state.deconv, slow_state.deconv, rtol=0, atol=1e-5)
    torch.testing.assert_close(fast_state.conv, slow_state.conv, rtol=0, atol=1e-5)


def test_published_size_matches_and_mixes_with_longer_calls():
    """The published monaural size; one-frame calls interleaved with longer ones, a state used twice."""
    torch.manual_seed(0)
    model = build_model("proposed-monaural").eval()
    mix = 0.1 * seeded_audio(1, 1, 128 * 12, seed=4)
    sizes = [128] * 4 + [512] + [128] * 4
    with torch.inference_mode():
        cond = model.encode(0.1 * seeded_audio(1, 1, 16000), 0.1 * seeded_audio(1, 1, 16000, seed=1))
        fast, state = stream(model, mix, cond, sizes)
        again = [model(mix[..., :128], cond, state)[0] for _ in range(2)]  # the state is not consumed
        with fast_frames(False):
            slow, slow_state = stream(model, mix, cond, sizes)
            reference = model(mix[..., :128], cond, slow_state)[0]
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)
    assert torch.equal(again[0], again[1])
    torch.testing.assert_close(again[0], reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["no_grad", "grad", "no_kernels"])
def test_outside_inference_mode_the_torch_path_runs_bit_for_bit(mode):
    model = build_model("posneg", **tiny_args()).eval()
    mix = seeded_audio(1, 1, 320, seed=3)
    pos, neg = seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1)
    sizes = frame_calls("upstream", 320)
    with torch.no_grad():
        cond = model.encode(pos, neg)

    def run():
        if mode == "grad":
            return stream(model, mix, cond, sizes)[0].detach()
        if mode == "no_grad":
            with torch.no_grad():
                return stream(model, mix, cond, sizes)[0]
        with mock.patch.object(kernels, "AVAILABLE", False), torch.inference_mode():
            return stream(model, mix, cond, sizes)[0]

    out = run()
    with fast_frames(False):
        reference = run()
    assert torch.equal(out, reference)


@pytest.mark.parametrize("assign", [False, True])
def test_weights_changed_between_calls_are_used(assign):
    """The regrouped weights are cached per module; loading other weights (copied in, or new
    parameter objects with assign=True) must invalidate them."""
    model = build_model("posneg", **tiny_args()).eval()
    other = build_model("posneg", **tiny_args()).eval()
    mix = seeded_audio(1, 1, 32, seed=3)
    pos, neg = seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1)
    with torch.inference_mode():
        model(mix, model.encode(pos, neg))  # fills the caches
    with torch.no_grad():
        model.load_state_dict({k: v.clone() for k, v in other.state_dict().items()}, assign=assign)
    with torch.inference_mode():
        cond = other.encode(pos, neg)
        out, _ = model(mix, cond)
        expected, _ = other(mix, cond)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
