"""`${name}` placeholders in checked configs: filled from variables (tsepn.bin.train --var),
in nested mappings, lists and overrides; one left without a value names its key."""
from dataclasses import dataclass, field
from typing import Dict, List

import pytest

from tsepn.config import ConfigError, load_config, parse_variables, substitute


@dataclass
class Inner:
    set_dir: str
    overrides: List[str] = field(default_factory=list)


@dataclass
class Conf:
    data: Inner
    init: Dict[str, str] = field(default_factory=dict)
    epochs: int = 1


def write(tmp_path, text):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_placeholders_are_filled_everywhere(tmp_path):
    path = write(tmp_path, 'data: {set_dir: "${data}/dev_m2e2", overrides: ["a=${data}", "b=1"]}\n'
                           "init:\n  teacher: ${exp}/teacher/model.pt\nepochs: 3\n")
    cfg = load_config(Conf, path, ["init.distilled=${exp}/stage1/model.pt"],
                      variables={"data": "/d", "exp": "e/proposed"})
    assert cfg.data.set_dir == "/d/dev_m2e2"
    assert cfg.data.overrides == ["a=/d", "b=1"]
    assert cfg.init == {"teacher": "e/proposed/teacher/model.pt", "distilled": "e/proposed/stage1/model.pt"}
    assert cfg.epochs == 3


def test_a_placeholder_without_value_names_file_and_key(tmp_path):
    path = write(tmp_path, 'data: {set_dir: "x", overrides: ["ok", "c=${simulate_config}"]}\n')
    with pytest.raises(ConfigError) as err:
        load_config(Conf, path, variables={"data": "d"})
    message = str(err.value)
    assert str(path) in message and "data.overrides[1]" in message and "${simulate_config}" in message
    assert "--var simulate_config=VALUE" in message
    with pytest.raises(ConfigError, match=r"init.teacher: placeholder \$\{exp\}"):
        load_config(Conf, write(tmp_path, 'data: {set_dir: x}\ninit: {teacher: "${exp}/m.pt"}\n'))


def test_substitute_leaves_other_values_and_the_input_alone():
    data = {"a": [1, 2.5, None, True], "b": "$HOME and ${x}", "c": {"d": "${x}${x}"}}
    out = substitute(data, {"x": "1"})
    assert out == {"a": [1, 2.5, None, True], "b": "$HOME and 1", "c": {"d": "11"}}
    assert data["c"]["d"] == "${x}${x}"


def test_parse_variables():
    assert parse_variables(["data=/a=b", "exp=", "data=c"]) == {"data": "c", "exp": ""}
    for bad in ("novalue", "1x=2", "=v", "a-b=1"):
        with pytest.raises(ConfigError, match="expected name=value"):
            parse_variables([bad])
