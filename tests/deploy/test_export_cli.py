"""tsepn-export: model directories, --onnx-only, --no-onnx, the error for a non-streaming model."""
from __future__ import annotations

import json

import pytest

from extract_helpers import tiny_posneg
from tsepn.bin.export import main
from tsepn.models import build_model
from tsepn.models.checkpoint import save_model


@pytest.fixture
def summary(tmp_path):
    folder = tmp_path / "exp" / "score_test_m2e2"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"si_snri": {"mean": 3.61, "std": 1.0, "n": 30},
                                                     "pesq": {"mean": 1.5}, "wrong_speaker_rate": 0.1,
                                                     "n_examples": 30}))
    return folder


def test_model_dir_without_onnx_and_onnx_only(tmp_path, summary):
    save_model(tmp_path / "m.pt", tiny_posneg())
    out = tmp_path / "dir"
    assert main(["--checkpoint", str(tmp_path / "m.pt"), "--out", str(out), "--no-onnx", "--name", "tiny",
                 "--training-data", "nothing real", "--scores", str(summary)]) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["name"] == "tiny" and card["onnx"] is None
    assert card["scores"] == {"test_m2e2": {"si_snri": 3.61, "pesq": 1.5, "wrong_speaker_rate": 0.1, "n": 30}}
    readme = (out / "README.md").read_text()
    assert "| test_m2e2 | 3.61 | 1.50 | 0.10 | 30 |" in readme and "nothing real" in readme
    assert main(["--checkpoint", str(tmp_path / "m.pt"), "--out", str(tmp_path / "graphs"), "--onnx-only",
                 "--chunk-seconds", "0.008", "--no-check"]) == 0
    manifest = json.loads((tmp_path / "graphs" / "manifest.json").read_text())
    assert manifest["chunk_samples"] == 64 and "check" not in manifest


def test_torchscript_format_flag(tmp_path, capsys):
    save_model(tmp_path / "m.pt", tiny_posneg())
    graphs = tmp_path / "ts"
    assert main(["--checkpoint", str(tmp_path / "m.pt"), "--out", str(graphs), "--onnx-only", "--format",
                 "torchscript", "--no-check"]) == 0
    manifest = json.loads((graphs / "manifest.json").read_text())
    assert manifest["format"] == "tsepn-torchscript-1" and (graphs / "step.pt").is_file()
    assert main(["--checkpoint", str(tmp_path / "m.pt"), "--out", str(tmp_path / "dir"), "--format",
                 "torchscript"]) == 1
    assert "use it with --onnx-only" in capsys.readouterr().err


def test_non_streaming_model_is_a_clear_error(tmp_path, capsys):
    model = build_model("improved", n_layers=1, emb_dim=8, lstm_hidden=4, n_heads=1, approx_qk_dim=8,
                        head_layers=1, head_refine_layers=1)
    save_model(tmp_path / "improved.pt", model)
    assert main(["--checkpoint", str(tmp_path / "improved.pt"), "--out", str(tmp_path / "dir")]) == 1
    err = capsys.readouterr().err
    assert "layer dual_mdl.0 (GridNetV2Block: bidirectional inter-frame LSTM) is not causal" in err
    assert "--no-onnx" in err and not (tmp_path / "dir").exists()
    assert main(["--checkpoint", str(tmp_path / "improved.pt"), "--out", str(tmp_path / "dir2"), "--no-onnx"]) == 0
    assert json.loads((tmp_path / "dir2" / "model.json").read_text())["streaming"] is False


def test_bad_checkpoint(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "dir")]) == 1
    assert "missing.pt" in capsys.readouterr().err
