"""tsepn.allocator: freed blocks are reused instead of page-faulted in again, and the model entry points ask for it."""
import subprocess
import sys
import textwrap

import pytest

# Minor page faults of a second round of 64 blocks of 1 MiB (a model call's activations) after the
# first round was freed, in a fresh process each.
PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from tsepn.allocator import retain_freed_memory
    if sys.argv[1] == "retain":
        assert retain_freed_memory()
    def one_round():
        blocks = [np.ones(1 << 18, dtype=np.float32) for _ in range(64)]
        del blocks
    one_round()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    one_round()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def second_allocation_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_block_is_reused_instead_of_faulted_in_again():
    plain, retained = second_allocation_faults("plain"), second_allocation_faults("retain")
    assert plain > 4000  # each block a fresh mmap: 256 pages each (measured 16 000 per round)
    assert retained < plain / 10


@pytest.mark.parametrize("module, argv", [
    ("tsepn.bin.decode", ["--set-dir", "nowhere", "--out-dir", "nowhere"]),  # fails later: no --checkpoint
    ("tsepn.bin.train", ["--config", "missing.yaml", "--exp-dir", "nowhere"]),  # fails later: no config
    ("tsepn.bin.extract", ["missing.pt", "--mix", "m.wav", "--pos", "p.wav", "--neg", "n.wav", "--out", "o.wav"]),
])
def test_the_model_entry_points_keep_freed_memory(module, argv, monkeypatch, tmp_path):
    import importlib

    entry = importlib.import_module(module)
    calls = []
    monkeypatch.setattr(entry, "retain_freed_memory", lambda: calls.append(module) or True)
    monkeypatch.chdir(tmp_path)
    assert entry.main(argv) == 1
    assert calls == [module]
