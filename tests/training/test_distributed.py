import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .corpus_helpers import write_corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_trains_and_ranks_agree(tmp_path):
    write_corpus(tmp_path / "train.txt", 300, seed=0)
    write_corpus(tmp_path / "dev.txt", 30, seed=1)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "training" / "ddp_worker.py"), str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    for key, value in ranks[0]["weights"].items():
        assert torch.equal(value, ranks[1]["weights"][key]), key
    assert ranks[0]["after"] < 0.7 * ranks[0]["before"]
    # Tokens are summed over both ranks, so both report the same count.
    assert ranks[0]["tokens_seen"] == ranks[1]["tokens_seen"] > 0
    assert (tmp_path / "run" / "checkpoints" / "rng-rank1.pt").is_file()
    assert (tmp_path / "run" / "model" / "weights.safetensors").is_file()
