"""utils/launch.sh (local and Slurm backends) and utils/split_scp.sh."""
import os
import stat
from pathlib import Path

from prep_helpers import UTILS, run_bash

LAUNCH = UTILS / "launch.sh"

FAKE_SBATCH = """#!/usr/bin/env bash
# Records its arguments, then runs the array tasks one after the other like --wait would.
printf '%s\\n' "$@" > "$FAKE_SBATCH_RECORD"
[ -n "${FAKE_SBATCH_FAIL:-}" ] && { echo "sbatch: error: invalid partition" >&2; exit 1; }
script=${@: -1}
array=""
for a in "$@"; do case $a in --array=*) array=${a#--array=}; array=${array%%%*};; esac; done
rc=0
for ((i=${array%-*}; i<=${array#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i SLURM_JOB_ID=77 bash "$script" || rc=1; done
echo 77
exit $rc
"""


def test_local_jobs_substitute_job_and_log_output(tmp_path):
    res = run_bash(f"{LAUNCH} JOB=1:3 log/echo.JOB.log echo job JOB of JOBS '|' tr a-z A-Z", tmp_path)
    assert res.returncode == 0, res.stderr
    for i in (1, 2, 3):
        text = (tmp_path / f"log/echo.{i}.log").read_text()
        assert f"JOB {i} OF JOBS" in text  # whole-word JOB replaced, JOBS left alone
        assert "# Ended (code 0)" in text


def test_failing_job_fails_the_launch_and_names_its_log(tmp_path):
    res = run_bash(f"{LAUNCH} --max-jobs-run 2 JOB=1:4 log/t.JOB.log test JOB -ne 3", tmp_path)
    assert res.returncode == 1
    assert "log/t.3.log" in res.stderr
    assert "log/t.1.log" not in res.stderr and "log/t.4.log" not in res.stderr
    assert "# Ended (code 1)" in (tmp_path / "log/t.3.log").read_text()


def test_single_job_and_bad_arguments(tmp_path):
    res = run_bash(f"{LAUNCH} log/one.log echo 'a b'", tmp_path)
    assert res.returncode == 0 and "a b" in (tmp_path / "log/one.log").read_text()
    res = run_bash(f"{LAUNCH} JOB=3:1 log/x.JOB.log true", tmp_path)
    assert res.returncode == 1 and "empty job range" in res.stderr
    res = run_bash(f"{LAUNCH} JOB=1:2 log/x.log true", tmp_path)
    assert res.returncode == 1 and "must contain JOB" in res.stderr
    res = run_bash(f"{LAUNCH} --bogus 1 log/x.log true", tmp_path)
    assert res.returncode == 1 and "unknown option --bogus" in res.stderr


def _fake_slurm(tmp_path: Path):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SBATCH_RECORD": str(tmp_path / "sbatch.args")}


def test_slurm_backend_submits_an_array_through_sbatch(tmp_path):
    env = _fake_slurm(tmp_path)
    res = run_bash(f"{UTILS}/slurm.sh --mem 4G --gpu 1 --time 1:00:00 --max-jobs-run 2 "
                   f"JOB=1:3 exp/log/dec.JOB.log echo part JOB", tmp_path, env)
    assert res.returncode == 0, res.stderr
    args = (tmp_path / "sbatch.args").read_text().split("\n")
    assert "--wait" in args and "--array=1-3%2" in args
    assert "--mem=4G" in args and "--gres=gpu:1" in args and "--time=1:00:00" in args
    assert args[-2].endswith("exp/log/q/dec.all.sh")
    for i in (1, 2, 3):
        assert f"part {i}" in (tmp_path / f"exp/log/dec.{i}.log").read_text()
    # --backend slurm on launch.sh is the same path
    res = run_bash(f"{LAUNCH} --backend slurm JOB=1:2 exp/log/b.JOB.log true", tmp_path, env)
    assert res.returncode == 0, res.stderr


def test_slurm_failures_name_the_logs(tmp_path):
    env = _fake_slurm(tmp_path)
    res = run_bash(f"{UTILS}/slurm.sh JOB=1:3 log/s.JOB.log test JOB -ne 2", tmp_path, env)
    assert res.returncode == 1
    assert "log/s.2.log" in res.stderr and "exit code 1" in res.stderr
    assert "log/s.1.log" not in res.stderr
    env["FAKE_SBATCH_FAIL"] = "1"
    res = run_bash(f"{UTILS}/slurm.sh JOB=1:2 log/f.JOB.log true", tmp_path, env)
    assert res.returncode == 1
    assert "log/f.1.log" in res.stderr and "log/f.2.log" in res.stderr and "did not finish" in res.stderr


def test_split_scp(tmp_path):
    lines = [f"utt{i:02d} /a/{i}.flac\n" for i in range(10)]
    (tmp_path / "wav.scp").write_text("".join(lines))
    res = run_bash(f"{UTILS}/split_scp.sh wav.scp p1 p2 p3", tmp_path)
    assert res.returncode == 0, res.stderr
    parts = [(tmp_path / f"p{i}").read_text().splitlines(keepends=True) for i in (1, 2, 3)]
    assert [len(p) for p in parts] == [4, 3, 3]
    assert sum(parts, []) == lines
    res = run_bash(f"{UTILS}/split_scp.sh --nj 2 wav.scp split", tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "split/2/wav.scp").read_text() == "".join(lines[5:])
    res = run_bash(f"{UTILS}/split_scp.sh --nj 11 wav.scp split", tmp_path)
    assert res.returncode == 1 and "cannot split into 11 parts" in res.stderr
