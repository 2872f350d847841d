"""The README's API example runs as written on a tiny model directory."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from deploy_helpers import make_model_dir

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_api_block() -> str:
    text = README.read_text()
    match = re.search(r"<!-- tested: tests/deploy/test_readme.py[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its tested API example"
    return match.group(1)


def test_readme_api_example_runs(tmp_path, monkeypatch):
    make_model_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_api_block(), str(README), "exec"), scope)  # noqa: S102 - our own README
    out, live, out_onnx = scope["out"], scope["live"], scope["out_onnx"]
    assert out.shape == (12000,) and np.abs(out).max() > 1e-3
    assert np.array_equal(np.concatenate(live), out)  # the live stream gives the same samples
    assert np.abs(out_onnx - scope["fast"].extract(scope["mix"], scope["pos"], scope["neg"])).max() == 0
    assert (tmp_path / "out.wav").is_file()
    assert scope["pos"].shape == (1, 4000) and scope["neg"].shape == (1, 4000)
