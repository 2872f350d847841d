"""MODELS registry: names, presets, overrides, parameter groups, embeddings of student and teacher."""
from __future__ import annotations

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, seeded_audio, tiny_args
from tsepn.models import MODELS, build_model
from tsepn.models.upstream import PRESETS


def teacher_args(**overrides):
    return {k: v for k, v in tiny_args(**overrides).items() if not k.startswith("head_")}


def test_registered_names():
    assert {"posneg", "teacher", "proposed-monaural", "proposed-binaural"} <= set(MODELS)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="posneg"):
        build_model("no-such-model")


def test_build_records_name_and_args():
    model = build_model("posneg", **tiny_args(framing="streaming"))
    assert model.tsepn_name == "posneg" and model.tsepn_args["framing"] == "streaming"
    assert model.init_args["framing"] == "streaming" and model.init_args["n_fft"] == 32


def test_preset_equals_posneg_with_the_published_arguments():
    preset = build_model("proposed-binaural", n_layers=1, fusion_layers=[0], encoder_layers=1)
    explicit = build_model("posneg", **dict(PRESETS["proposed-binaural"], n_layers=1, fusion_layers=[0], encoder_layers=1))
    assert preset.init_args == explicit.init_args
    assert [(k, v.shape) for k, v in preset.state_dict().items()] == [(k, v.shape) for k, v in explicit.state_dict().items()]
    assert preset.in_channels == preset.out_channels == 2 and preset.sample_rate == 16000


@pytest.mark.parametrize("name,args,names", [("posneg", tiny_args(), {"encoder", "head", "main"}),
                                             ("teacher", teacher_args(), {"encoder", "main"})])
def test_param_groups_cover_every_parameter_once(name, args, names):
    model = build_model(name, **args)
    groups = model.param_groups()
    assert set(groups) == names
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups["encoder"]} == {id(p) for p in model.encoder.parameters()}


def test_embed_is_the_encoded_embedding_and_matches_the_teacher_shape():
    student = build_model("posneg", **tiny_args()).eval()
    teacher = build_model("teacher", **teacher_args()).eval()
    pos, neg = seeded_audio(2, 1, ENROLL_SAMPLES), seeded_audio(2, 1, ENROLL_SAMPLES + 96, seed=1)
    with torch.no_grad():
        emb = student.embed(pos, neg)
        torch.testing.assert_close(student.encode(pos, neg).embedding, emb)
        target = teacher.embed_clean(pos)
    assert emb.shape == target.shape == (2, 8, ENROLL_SAMPLES // 16 + 1, 17)


def test_frozen_encoder_builds_no_graph():
    model = build_model("posneg", **tiny_args())
    model.encoder.requires_grad_(False)
    model.encoder_head.requires_grad_(False)
    cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
    assert not cond.embedding.requires_grad
    assert all(t.requires_grad for t in cond.fusion[0])  # the fusion's key/value projections still train
