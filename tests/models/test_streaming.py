"""Streaming: chunked calls versus one whole call, causality, encoder computed once, stream end."""
from __future__ import annotations

from unittest import mock

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, seeded_audio, tiny_args
from tsepn.models import build_model

HOP = 16
MIX = 960


def chunk_sizes(total: int, seed: int):
    """Random hop-multiple chunk lengths (1..12 hops) adding up to `total`."""
    gen = torch.Generator().manual_seed(seed)
    sizes, left = [], total
    while left:
        size = min(left, HOP * int(torch.randint(1, 13, (1,), generator=gen)))
        sizes.append(size)
        left -= size
    return sizes


def run(model, mix, cond, sizes):
    state, outs = None, []
    for piece in mix.split(sizes, dim=-1):
        out, state = model(piece, cond, state)
        outs.append(out)
    return torch.cat(outs, dim=-1)


@pytest.mark.parametrize("normalization", ["none", "enrollment"])
@pytest.mark.parametrize("channels", [1, 2])
def test_native_streaming_equals_one_call(normalization, channels):
    model = build_model("posneg", **tiny_args(channels=channels, normalization=normalization, framing="streaming"))
    model.eval()
    mix = seeded_audio(1, channels, MIX, seed=5)
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, channels, ENROLL_SAMPLES), seeded_audio(1, channels, ENROLL_SAMPLES, seed=1))
        whole, _ = model(mix, cond)
        for sizes in ([HOP] * (MIX // HOP), [320, 320, 320], chunk_sizes(MIX, 0), chunk_sizes(MIX, 1)):
            torch.testing.assert_close(run(model, mix, cond, sizes), whole, rtol=0, atol=1e-5)


def test_teacher_streams_like_the_student():
    args = {k: v for k, v in tiny_args(normalization="none", framing="streaming").items() if not k.startswith("head_")}
    model = build_model("teacher", **args).eval()
    mix = seeded_audio(1, 1, MIX, seed=5)
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES))
        whole, _ = model(mix, cond)
        torch.testing.assert_close(run(model, mix, cond, chunk_sizes(MIX, 2)), whole, rtol=0, atol=1e-5)


def test_streaming_framing_is_causal_per_hop():
    """Output hop k depends on input up to the end of hop k only; the delay is `latency` samples."""
    model = build_model("posneg", **tiny_args(normalization="none", framing="streaming")).eval()
    assert model.latency == 16
    mix = seeded_audio(1, 1, MIX, seed=5)
    later = mix.clone()
    later[..., 480:] += seeded_audio(1, 1, MIX - 480, seed=9)
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
        a, _ = model(mix, cond)
        b, _ = model(later, cond)
    torch.testing.assert_close(a[..., :480], b[..., :480], rtol=0, atol=0)
    assert (a[..., 480:] - b[..., 480:]).abs().max() > 1e-4


def test_per_call_chunks_differ_as_documented():
    """The authors' configuration renormalises every call: 1-chunk and 2-chunk outputs differ."""
    model = build_model("posneg", **tiny_args()).eval()
    mix = seeded_audio(1, 1, MIX, seed=5)
    mix[..., 480:] *= 4  # a louder second half: its own std differs a lot
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
        whole, _ = model(mix, cond)
        halves = run(model, mix, cond, [480, 480])
    assert (whole - halves).abs().max() > 1e-3


def test_forward_never_calls_the_encoder():
    model = build_model("posneg", **tiny_args()).eval()
    fusion = model.fusions[0]
    with mock.patch.object(model.encoder, "features", wraps=model.encoder.features) as encoder, \
         mock.patch.object(model.encoder_head, "forward", wraps=model.encoder_head.forward) as head, \
         mock.patch.object(fusion, "prepare", wraps=fusion.prepare) as prepare, torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
        assert (encoder.call_count, head.call_count, prepare.call_count) == (1, 1, 1)
        run(model, seeded_audio(1, 1, MIX), cond, [160] * 6)
        assert (encoder.call_count, head.call_count, prepare.call_count) == (1, 1, 1)


@pytest.mark.parametrize("framing", ["upstream", "streaming"])
def test_unframed_call_is_padded_and_ends_the_stream(framing):
    model = build_model("posneg", **tiny_args(framing=framing)).eval()
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
        out, state = model(seeded_audio(1, 1, 160), cond)
        assert out.shape[-1] == 160 and not state.ended
        out, state = model(seeded_audio(1, 1, 37), cond, state)
        assert out.shape[-1] == 37 and state.ended
        with pytest.raises(RuntimeError, match="ended"):
            model(seeded_audio(1, 1, 160), cond, state)


def test_state_detach_cuts_the_graph():
    model = build_model("posneg", **tiny_args())
    cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
    _, state = model(seeded_audio(1, 1, 160), cond)
    assert state.blocks[0].h.requires_grad
    cut = state.detach()
    assert not cut.blocks[0].h.requires_grad and not cut.synthesis.requires_grad
