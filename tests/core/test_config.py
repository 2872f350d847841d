"""tsepn.config: the dataclass schema checks every key and value of a YAML config."""
from dataclasses import dataclass, field
from typing import List, Optional

import pytest

from tsepn.config import ConfigError, load_config, save_config


@dataclass
class Optim:
    lr: float = 0.001
    steps: int = 10


@dataclass
class Conf:
    name: str
    optim: Optim = field(default_factory=Optim)
    layers: List[int] = field(default_factory=list)
    note: Optional[str] = None


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_nested_values_and_overrides(tmp_path):
    cfg = load_config(Conf, write(tmp_path, "name: a\noptim: {lr: 0.5}\nlayers: [1, 2]\n"), ["optim.steps=3"])
    assert cfg == Conf(name="a", optim=Optim(lr=0.5, steps=3), layers=[1, 2])


def test_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 2e-3 as the string "2e-3".
    cfg = load_config(Conf, write(tmp_path, "name: a\noptim: {lr: 2e-3}\n"))
    assert cfg.optim.lr == pytest.approx(0.002)


def test_unknown_key_names_file_and_dotted_key(tmp_path):
    path = write(tmp_path, "name: a\noptim: {lrr: 1.0}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key\(s\) optim\.lrr"):
        load_config(Conf, path)


def test_missing_and_badly_typed_keys(tmp_path):
    with pytest.raises(ConfigError, match="missing required key\\(s\\) name"):
        load_config(Conf, write(tmp_path, "layers: []\n"))
    with pytest.raises(ConfigError, match="optim.lr must be a number, got 'fast'"):
        load_config(Conf, write(tmp_path, "name: a\noptim: {lr: fast}\n"))
    with pytest.raises(ConfigError, match="optim.steps must be an integer"):
        load_config(Conf, write(tmp_path, "name: a\noptim: {steps: 1.5}\n"))
    with pytest.raises(ConfigError, match=r"layers\[1\] must be an integer"):
        load_config(Conf, write(tmp_path, "name: a\nlayers: [1, x]\n"))


def test_saved_config_loads_back(tmp_path):
    cfg = Conf(name="b", optim=Optim(lr=0.25, steps=2), layers=[3])
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(Conf, tmp_path / "out.yaml") == cfg
