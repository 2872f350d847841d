"""SpEx+: interface, tiny forward/backward, the multi-scale encoder's frame grid, the paper-size build."""
import pytest
import torch

from systems_helpers import ENROLL, MIX, SPEX_TINY, audio, check_interface_and_gradients, parameter_count
from tsepn.models import build_model
from tsepn.models.baselines.spexplus import MultiScaleEncoder


def test_tiny_forward_backward_reaches_every_parameter():
    model, outputs, no_grad = check_interface_and_gradients("spexplus", SPEX_TINY)
    assert no_grad == []
    assert set(outputs) == {"wave", "wave_middle", "wave_long", "speaker_logits", "speaker_embedding"}
    assert outputs["speaker_logits"].shape == (2, 5) and outputs["speaker_embedding"].shape == (2, 16)
    assert set(model.param_groups()) == {"speaker", "main"}
    assert model.inputs == ("mix", "pos") and not model.streaming and model.latency == 0


def test_the_extraction_depends_on_the_reference_and_ignores_neg():
    model = build_model("spexplus", **SPEX_TINY).eval()
    mix, pos = audio(1, MIX), audio(1, ENROLL, seed=1)
    with torch.no_grad():
        a, _ = model(mix, model.encode(pos))
        b, _ = model(mix, model.encode(pos, audio(1, ENROLL, seed=5)))
        c, _ = model(mix, model.encode(audio(1, ENROLL, seed=2)))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("samples", [64, 65, 100, 4001])
def test_the_three_scales_share_one_frame_grid(samples):
    enc = MultiScaleEncoder(1, (8, 32, 64), 4)
    outs = enc(torch.randn(1, 1, samples))
    assert [o.shape[-1] for o in outs] == [enc.frames(samples)] * 3
    # every input sample is covered by the short window's frames
    assert (enc.frames(samples) - 1) * enc.stride + 8 >= samples


def test_speaker_logits_need_a_classifier():
    model = build_model("spexplus", **dict(SPEX_TINY, num_speakers=0))
    assert "speaker_logits" not in model.train_outputs({"mix": audio(1, MIX), "pos": audio(1, ENROLL)})
    with pytest.raises(ValueError, match="num_speakers"):
        model.speaker_logits(torch.zeros(1, 16))


def test_paper_size_dry_build():
    model = build_model("spexplus", num_speakers=251)
    count = parameter_count(model)
    print(f"spexplus paper size: {count} parameters")
    # the paper: 11.1 M with 8-kHz windows (20/80/160) and 101 WSJ0 speakers; here 16-kHz windows, 251 speakers
    assert 10.8e6 < count < 11.6e6
