"""benchmarks/gpu_check.sh and the throughput benchmarks run where spaCy and thinc cannot be imported,
and say clearly when there is no GPU (the script is meant for a bare GPU machine)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import ROOT

BLOCK_SPACY = "import sys; sys.modules['spacy'] = None; sys.modules['thinc'] = None; "


def env(tmp_path):
    return {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_without_a_gpu_the_script_says_so_and_how_to_dry_run(tmp_path):
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "sees no CUDA device" in done.stderr and "--dry-run" in done.stderr


@pytest.mark.slow
def test_pretrain_throughput_on_synthetic_text_imports_no_spacy(tmp_path):
    out = tmp_path / "result.json"
    argv = ["x", "--config", "configs/pretrain/tiny.cfg", "--synthetic", "--steps", "1", "--warmup", "1", "--compare-impls", "--output", str(out)]
    code = BLOCK_SPACY + f"sys.argv = {argv!r}; import runpy; runpy.run_path('benchmarks/pretrain_throughput.py', run_name='__main__')"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(tmp_path), check=True, capture_output=True, timeout=600)
    result = json.loads(out.read_text())
    assert [r["lstm_impl"] for r in result["runs"]] == ["loop", "batched"]
    assert result["runs"][0]["routes"] == {} and result["runs"][1]["routes"]["batched"] == 2 * 2  # 2 layers x 2 updates
    assert result["runs"][0]["first_losses"] == pytest.approx(result["runs"][1]["first_losses"], abs=1e-4)
    assert result["runs"][1]["tokens_per_second"] > 0 and result["runs"][1]["updates_per_second"] > 0
    assert result["peak_source"].startswith("measured fp32 matmul")


@pytest.mark.slow
def test_the_gpu_check_dry_run_passes_on_cpu(tmp_path):
    """The same code as on a GPU, on tiny shapes (about 1.5 minutes on a loaded 2-core machine)."""
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run"], cwd=ROOT, env=env(tmp_path), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    sections = results["sections"]
    assert len(sections) == 4 and not any("error" in s or "skipped" in s for s in sections.values())
    assert sections["1. exactness"]["passed"]
    assert (tmp_path / "out" / "results.md").read_text().startswith("# GPU check")
