"""tsepn.progress: a tqdm bar on a terminal, plain lines every N % anywhere else (no carriage returns)."""
import io
import subprocess
import sys
from pathlib import Path

import pytest

from tsepn.progress import format_seconds, progress

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def lines_of(stream):
    text = stream.getvalue()
    assert "\r" not in text
    return text.splitlines()


def test_iterating_logs_one_line_per_ten_percent_and_the_last_at_100():
    out = io.StringIO()
    items = list(progress(range(100), desc="decode", unit="utt", stream=out))
    assert items == list(range(100))
    lines = lines_of(out)
    assert len(lines) == 10
    assert lines[0].startswith("decode: 10% 10/100 utt, ") and " elapsed" in lines[0] and " left" in lines[0]
    assert lines[-1].startswith("decode: 100% 100/100 utt, ") and " left" not in lines[-1]
    assert all("/s" in line for line in lines)  # a rate: "<n> utt/s" or "<n> s/utt"


@pytest.mark.parametrize("total,every,expected", [(3, 10, 3), (120, 10, 10), (120, 25, 4), (7, 50, 2), (1, 10, 1)])
def test_update_counts_lines(total, every, expected):
    out = io.StringIO()
    with progress(total=total, desc="render", unit="ex", every=every, stream=out) as bar:
        for _ in range(total):
            bar.update()
    lines = lines_of(out)
    assert len(lines) == expected
    assert lines[-1].startswith(f"render: 100% {total}/{total} ex")


def test_bulk_updates_and_a_step_that_is_not_a_divisor():
    out = io.StringIO()
    with progress(total=10, every=30, stream=out) as bar:
        for _ in range(5):
            bar.update(2)
    # steps of 30 %: passed at 4 (40 %) and 6 (60 %); at 10 the 90 % step and the end share one line
    assert [line.split()[0] for line in lines_of(out)] == ["40%", "60%", "100%"]


def test_work_that_ends_early_gets_a_last_line():
    out = io.StringIO()
    for i in progress(range(55), total=100, desc="epoch 1", stream=out):
        pass
    lines = lines_of(out)
    assert len(lines) == 6 and lines[-1].startswith("epoch 1: 55% 55/100 it")


def test_unknown_total_logs_at_the_end():
    out = io.StringIO()
    assert sum(progress((i for i in range(7)), unit="utt", stream=out)) == 21
    assert lines_of(out) == [lines_of(out)[0]] and lines_of(out)[0].startswith("7 utt, ")


def test_disabled_writes_nothing():
    out = io.StringIO()
    assert list(progress(range(5), disable=True, stream=out)) == list(range(5))
    with progress(total=4, disable=True, stream=out) as bar:
        bar.update(4)
    assert out.getvalue() == ""


def test_a_terminal_gets_a_tqdm_bar():
    term = Terminal()
    assert list(progress(range(20), desc="bar", stream=term)) == list(range(20))
    assert "\r" in term.getvalue() and "bar" in term.getvalue()


def test_bad_step_is_an_error():
    with pytest.raises(ValueError, match="every=0"):
        progress(range(3), every=0)


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 7.4, 83, 3723)] == ["0:00", "0:07", "1:23", "1:02:03"]


def test_a_pipe_and_a_log_file_get_plain_lines(tmp_path):
    """The real streams: stderr of a child process into a pipe, and into a file."""
    code = ("from tsepn.progress import progress\n"
            "for _ in progress(range(40), desc='job', unit='utt'): pass\n")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    log = tmp_path / "job.log"
    with open(log, "w") as handle:
        subprocess.run([sys.executable, "-c", code], stderr=handle, env=env, check=True)
    for text in (piped.stderr, log.read_text()):
        assert "\r" not in text
        lines = text.splitlines()
        assert len(lines) == 10 and all(line.startswith("job: ") for line in lines), text


def test_min_interval_keeps_only_the_last_line_of_a_quick_loop():
    out = io.StringIO()
    assert len(list(progress(range(30), desc="probe", stream=out, min_interval=3600))) == 30
    assert [line.split(",")[0] for line in lines_of(out)] == ["probe: 100% 30/30 it"]
