"""Spectron: tiny forward/backward, the token conditioning, the embedding-consistency outputs, chunking, paper build."""
import torch

from systems_helpers import ENROLL, MIX, SPECTRON_TINY, audio, check_interface_and_gradients, parameter_count
from tsepn.losses import build_loss
from tsepn.models import build_model
from tsepn.models.baselines.spectron import from_chunks, to_chunks


def test_tiny_forward_backward_reaches_every_parameter():
    model, outputs, no_grad = check_interface_and_gradients("spectron", SPECTRON_TINY)
    assert no_grad == []
    assert set(outputs) == {"wave", "output_embedding", "enrollment_embedding", "speaker_logits"}
    assert set(model.param_groups()) == {"speaker", "main"}


def test_embedding_consistency_trains_the_extractor_not_the_speaker_encoder():
    model = build_model("spectron", **SPECTRON_TINY)
    outputs = model.train_outputs({"mix": audio(2, MIX), "pos": audio(2, ENROLL, seed=1)})
    loss = build_loss([{"name": "embedding_consistency", "output": "output_embedding",
                        "target": "enrollment_embedding"}])
    total, _ = loss.evaluate(outputs, {})
    total.backward()
    assert model.blocks[0].intra.net.layers[0].linear1.weight.grad.abs().sum() > 0
    assert not outputs["enrollment_embedding"].requires_grad
    # the re-embedding pass itself passes gradients to the waveform only (the speaker encoder
    # still learns through the token that conditions the extractor, not through the re-embedding)
    model.zero_grad(set_to_none=True)
    wave = audio(2, MIX, seed=3).requires_grad_(True)
    model.reembed(wave).sum().backward()
    assert all(p.grad is None for p in model.speaker.parameters())
    assert wave.grad.abs().sum() > 0


def test_the_speaker_token_conditions_the_output():
    model = build_model("spectron", **SPECTRON_TINY).eval()
    mix = audio(1, MIX)
    with torch.no_grad():
        a, _ = model(mix, model.encode(audio(1, ENROLL, seed=1)))
        b, _ = model(mix, model.encode(audio(1, ENROLL, seed=2)))
    assert not torch.allclose(a, b)


def test_chunking_with_half_overlap_is_undone_exactly():
    x = torch.randn(2, 3, 37)
    chunks, total = to_chunks(x, 8)
    assert chunks.shape[:3] == (2, 3, 8) and total >= 37
    assert torch.allclose(from_chunks(chunks, total, 37), x, atol=1e-6)


def test_paper_size_dry_build():
    count = parameter_count(build_model("spectron", num_speakers=251))
    print(f"spectron paper size: {count} parameters")
    assert 13e6 < count < 16e6
