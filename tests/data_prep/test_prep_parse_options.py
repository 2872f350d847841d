"""utils/parse_options.sh: Kaldi semantics and its errors."""
from pathlib import Path

from prep_helpers import UTILS, run_bash

SCRIPT = f"""
set -euo pipefail
foo_bar=1
use_gpu=false
name=default
help_message="Usage: demo.sh [options] <in> <out>"
. {UTILS}/parse_options.sh
echo "foo_bar=$foo_bar use_gpu=$use_gpu name=$name args=$*"
"""


def run(tmp_path: Path, *args: str):
    (tmp_path / "demo.sh").write_text(SCRIPT)
    quoted = " ".join(f"'{a}'" for a in args)
    return run_bash(f"bash demo.sh {quoted}", tmp_path)


def test_sets_declared_options_and_keeps_positionals(tmp_path):
    res = run(tmp_path, "--foo-bar", "7", "--use-gpu", "true", "--name=x y", "in", "out")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "foo_bar=7 use_gpu=true name=x y args=in out"


def test_unknown_option_is_an_error(tmp_path):
    res = run(tmp_path, "--no-such-thing", "3")
    assert res.returncode == 1
    assert "--no-such-thing" in res.stderr and "invalid option" in res.stderr
    assert res.stdout == ""


def test_malformed_boolean_is_an_error(tmp_path):
    res = run(tmp_path, "--use-gpu", "yes")
    assert res.returncode == 1
    assert "expects true or false" in res.stderr and "'yes'" in res.stderr


def test_missing_value_is_an_error(tmp_path):
    res = run(tmp_path, "--foo-bar")
    assert res.returncode == 1
    assert "needs a value" in res.stderr


def test_help_prints_usage(tmp_path):
    for flag in ("--help", "-h"):
        res = run(tmp_path, flag)
        assert res.returncode == 0
        assert res.stdout.strip() == "Usage: demo.sh [options] <in> <out>"


def test_config_file_is_sourced_and_later_options_win(tmp_path):
    (tmp_path / "my.conf").write_text("foo_bar=5\nname=from_conf\n")
    res = run(tmp_path, "--config", "my.conf", "--name", "cli")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "foo_bar=5 use_gpu=false name=cli args="
    res = run(tmp_path, "--config", "missing.conf")
    assert res.returncode == 1 and "missing.conf" in res.stderr


def test_double_dash_ends_options(tmp_path):
    res = run(tmp_path, "--foo-bar", "2", "--", "--not-an-option")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("args=--not-an-option")
