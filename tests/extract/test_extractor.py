"""tsepn.infer.Extractor: call pattern (encode once, chunks carry state) and input checks."""
import numpy as np
import pytest
import torch

from tsepn.infer import Extractor, InputError

SR = 1000


class CausalToyModel(torch.nn.Module):
    """A streaming model small enough to reason about: a causal FIR filter whose taps are
    scaled by a number taken from the enrollments. The state is the filter's input history."""

    in_channels = 1
    out_channels = 1
    sample_rate = SR

    def __init__(self):
        super().__init__()
        self.taps = torch.nn.Parameter(torch.tensor([0.5, -0.25, 0.125, 1.0]))
        self.encode_calls = 0
        self.forward_lengths = []

    def encode(self, pos, neg):
        self.encode_calls += 1
        return (pos.std() / (neg.std() + 1.0)).reshape(1)

    def init_state(self, batch_size):
        return torch.zeros(batch_size, 1, self.taps.numel() - 1)

    def forward(self, mix, cond, state=None):
        self.forward_lengths.append(mix.shape[-1])
        if state is None:
            state = self.init_state(mix.shape[0])
        padded = torch.cat([state, mix], dim=-1)
        out = torch.nn.functional.conv1d(padded, self.taps.flip(0).view(1, 1, -1)) * cond
        return out, padded[..., -(self.taps.numel() - 1) :]


def signals(seed=0, mix_s=2.05, enroll_s=1.0, channels=1):
    rng = np.random.default_rng(seed)
    shape = lambda s: (channels, int(s * SR))  # noqa: E731
    return (
        rng.standard_normal(shape(mix_s)).astype(np.float32),
        rng.standard_normal(shape(enroll_s)).astype(np.float32),
        rng.standard_normal(shape(enroll_s)).astype(np.float32) * 0.5,
    )


def test_whole_and_chunked_agree_and_encode_once():
    mix, pos, neg = signals()
    model = CausalToyModel()
    whole = Extractor(model)(mix, pos, neg)
    assert model.encode_calls == 1 and model.forward_lengths == [mix.shape[1]]
    model.forward_lengths.clear()
    chunked = Extractor(model, chunk_seconds=0.5)(mix, pos, neg)
    assert model.encode_calls == 2  # once more for the second call, not once per chunk
    assert model.forward_lengths == [500, 500, 500, 500, 50]  # the last chunk is short
    assert whole.dtype == np.float32 and whole.shape == mix.shape
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    # and the output really is the filtered mixture
    expected = np.convolve(mix[0], [0.5, -0.25, 0.125, 1.0])[: mix.shape[1]] * (pos.std(ddof=1) / (neg.std(ddof=1) + 1))
    np.testing.assert_allclose(whole[0], expected, rtol=1e-4, atol=1e-5)


def test_mono_vector_is_accepted_as_one_channel():
    mix, pos, neg = signals()
    out = Extractor(CausalToyModel())(mix[0], pos[0], neg[0])
    assert out.shape == (1, mix.shape[1])


def test_wrong_channel_count_is_a_clear_error():
    mix, pos, neg = signals(channels=2)
    with pytest.raises(InputError, match="mixture: 2 channel\\(s\\), but the model takes 1 \\(monaural input\\)"):
        Extractor(CausalToyModel())(mix, pos[:1], neg[:1])


@pytest.mark.parametrize("which", ["pos", "neg"])
def test_short_enrollment_is_rejected(which):
    mix, pos, neg = signals()
    short = {"pos": pos, "neg": neg}
    short[which] = short[which][:, :100]
    name = "positive" if which == "pos" else "negative"
    with pytest.raises(InputError, match=f"{name} enrollment: 100 samples .* too short"):
        Extractor(CausalToyModel())(mix, short["pos"], short["neg"])


def test_non_finite_input_is_rejected():
    mix, pos, neg = signals()
    mix[0, 7] = np.nan
    with pytest.raises(InputError, match="mixture: holds NaN or Inf"):
        Extractor(CausalToyModel())(mix, pos, neg)


def test_bad_chunk_seconds():
    with pytest.raises(ValueError, match="chunk_seconds must be > 0"):
        Extractor(CausalToyModel(), chunk_seconds=0)


# ------------------------------------------------------------------ real (tiny) tsepn models


def test_tiny_posneg_whole_equals_chunked(tmp_path):
    """Fixed normalisation + streaming frame grid: any hop-multiple chunking gives the whole-call output."""
    from extract_helpers import noise, tiny_posneg
    from tsepn.models.checkpoint import save_model

    save_model(tmp_path / "tiny.pt", tiny_posneg())
    mix, pos, neg = noise(1, 6405, 1), noise(1, 4000, 2), noise(1, 4000, 3)
    whole = Extractor.from_checkpoint(tmp_path / "tiny.pt")(mix, pos, neg)
    assert whole.shape == mix.shape and np.abs(whole).max() > 1e-3
    for seconds in (0.25, 0.126):  # the last chunk is short and not a whole hop
        chunked = Extractor.from_checkpoint(tmp_path / "tiny.pt", chunk_seconds=seconds)(mix, pos, neg)
        assert np.abs(chunked - whole).max() <= 1e-5, seconds


def test_tiny_improved_chunks_are_independent_calls():
    """The non-streaming improved model: chunked output = each chunk extracted on its own."""
    from tsepn.models import build_model

    torch.manual_seed(0)
    model = build_model("improved", n_fft=32, hop=16, emb_dim=8, lstm_hidden=8, n_heads=2, approx_qk_dim=34,
                        n_layers=1, head_refine_layers=1, sample_rate=8000).eval()
    rng = np.random.default_rng(0)
    mix, pos, neg = (rng.standard_normal((1, n)).astype(np.float32) for n in (5000, 4000, 4000))
    chunked = Extractor(model, chunk_seconds=0.25)(mix, pos, neg)  # 2000 + 2000 + 1000 samples
    pieces = [Extractor(model)(mix[:, a:b], pos, neg) for a, b in ((0, 2000), (2000, 4000), (4000, 5000))]
    np.testing.assert_allclose(chunked, np.concatenate(pieces, axis=1), atol=1e-6)
