"""Checked YAML configs: a dataclass is the schema, an unknown key is an error.

    cfg = load_config(DataConf, "conf/data.yaml", overrides=["train.seconds=4"])

Nested dataclasses become nested mappings. Overrides are `dotted.key=value`
with the value parsed as YAML. Errors name the file and the dotted key.

Placeholders: `${name}` inside any string value (overrides included) is replaced
by `variables[name]` (`tsepn.bin.train --var name=value`); a recipe passes its
folders this way (`${data}`, `${exp}`, `${simulate_config}`) so that no config
names a data or experiment folder. A placeholder left without a value is an
error naming the key. There is no escape: a literal `${` cannot appear in a value.
Free-form mappings (model args, say) are plain `dict` fields: checked by
whatever consumes them.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Type, TypeVar

import yaml

from tsepn.fileio import write_text_atomic

C = TypeVar("C")


class ConfigError(ValueError):
    """A config that does not fit its schema; the message names the source and key."""


def load_yaml(path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Set `a.b.c=value` entries (value parsed as YAML) in a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected dotted.key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_variables(items: Iterable[str]) -> Dict[str, str]:
    """`name=value` strings (from `--var`) -> {name: value}; a later name wins."""
    variables = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _VARIABLE_NAME.fullmatch(name):
            raise ConfigError(f"variable {item!r}: expected name=value with a name of letters, digits and _")
        variables[name] = value
    return variables


def substitute(data: Any, variables: Dict[str, str], source: str = "<config>", prefix: str = "") -> Any:
    """Replace `${name}` in every string of `data` (nested dicts/lists); a new object.

    A placeholder with no value in `variables` is a ConfigError naming the key."""
    if isinstance(data, dict):
        return {k: substitute(v, variables, source, f"{prefix}.{k}" if prefix else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, variables, source, f"{prefix}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str):
        return data

    def value(match: "re.Match[str]") -> str:
        name = match.group(1)
        if name not in variables:
            given = ", ".join(sorted(variables)) or "none"
            raise ConfigError(
                f"{source}: {prefix or 'top level'}: placeholder ${{{name}}} has no value "
                f"(give it with --var {name}=VALUE; variables given: {given})"
            )
        return variables[name]

    return _PLACEHOLDER.sub(value, data)


def from_dict(schema: Type[C], data: Dict[str, Any], source: str = "<config>", prefix: str = "") -> C:
    """Build dataclass `schema` from a mapping, rejecting unknown keys and bad types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'top level'} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(where + k for k in unknown)}; "
            f"allowed under {prefix or 'top level'}: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(hints[name], value, source, key)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{source}: missing required key(s) {', '.join(where + m for m in missing)}")
    return schema(**kwargs)


def _convert(hint, value, source: str, key: str):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source, key)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, source, key)
        return value
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        item = args[0] if args else Any
        return type(value)(_convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value)) if origin is list else tuple(value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads `2e-3` (no dot) as a string; accept what float() accepts.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{source}: {key} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    return value


def load_config(
    schema: Type[C],
    path=None,
    overrides: Optional[Iterable[str]] = None,
    variables: Optional[Dict[str, str]] = None,
) -> C:
    """Load YAML `path` (optional) into `schema`, applying dotted overrides, then
    replacing `${name}` placeholders by `variables` (see the module docstring)."""
    data = load_yaml(path) if path is not None else {}
    apply_overrides(data, overrides or [])
    source = str(path) if path is not None else "<overrides>"
    data = substitute(data, variables or {}, source)
    return from_dict(schema, data, source=source)


def to_dict(cfg) -> Dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_config(cfg, path) -> None:
    """Write the merged config (what actually ran) atomically as YAML."""
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
