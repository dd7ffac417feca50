"""Shared pieces of the benchmarks: the workload, random weights, FLOP counts, the matmul peak.

Kept out of the package: benchmarks may import the optional ``bench`` extra.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]
CONLL_TESTA = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared")) / "data" / "conll2003" / "eng.testa"
WEIGHTS_DIR = Path(os.environ.get("SPACY_ELMO_BENCH_WEIGHTS", Path.home() / ".cache" / "spacy-elmo-bench"))

# The two published ELMo shapes (AllenNLP's options files), as BiLMOptions fields.
SIZES: Dict[str, dict] = {
    "small": dict(lstm_dim=1024, projection_dim=128, n_highway=1),  # 2x1024_128_2048cnn_1xhighway
    "original": dict(lstm_dim=4096, projection_dim=512, n_highway=2),  # 2x4096_512_2048cnn_2xhighway
    # Issue 13's medium training shape: char CNN of 512 filters, 2 highways, LSTM 1024 -> 256.
    "medium": dict(lstm_dim=1024, projection_dim=256, n_highway=2, filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256))),
}
SIZE_NAMES = {
    "small": "ELMo small (2x1024_128_2048cnn_1xhighway)",
    "original": "ELMo original (2x4096_512_2048cnn_2xhighway)",
    "medium": "medium (2x1024_256_512cnn_2xhighway)",
}


def conll_sentences(path: Path = CONLL_TESTA, limit: int = 500) -> List[List[str]]:
    """The first ``limit`` sentences of a CoNLL-2003 file, in file order, without -DOCSTART-."""
    if not path.is_file():
        raise SystemExit(f"CoNLL-2003 file not found at {path}; put ../shared beside the checkout or set SPACY_ELMO_SHARED")
    sentences: List[List[str]] = []
    current: List[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields:
            if current:
                sentences.append(current)
                current = []
        elif fields[0] != "-DOCSTART-":
            current.append(fields[0])
    if current:
        sentences.append(current)
    return sentences[:limit] if limit else sentences


def random_weights(size: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Write (once) random weights of a published shape in the original layout; returns the folder.

    Uniform weights scaled by 1/sqrt(fan_in) keep gates away from saturation, so the
    parity checks see realistic, non-trivial activations.
    """
    from spacy_elmo.bilm import BiLMOptions, save_original

    folder = weights_dir / size
    if (folder / "weights.hdf5").is_file():
        return folder
    save_original(random_bilm(BiLMOptions(**SIZES[size])), folder)
    return folder


def random_bilm(options, seed: int = 1234):
    """A biLM with uniform weights scaled by 1/sqrt(fan_in) (see ``random_weights``)."""
    from spacy_elmo.bilm import BiLM

    torch.manual_seed(seed)
    bilm = BiLM(options)
    with torch.no_grad():
        for name, p in bilm.named_parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else 1
            p.uniform_(-1.0, 1.0).mul_(1.0 / fan_in ** 0.5 if p.dim() > 1 else 0.1)
        bilm.char_cnn.char_embedding.weight[0].zero_()
    return bilm


def flops_per_token(options) -> Dict[str, float]:
    """Forward FLOPs (2 per multiply-add) per token of the reference computation.

    The char CNN convolves all ``max_characters_per_token`` positions, as the reference does;
    the LSTM counts both directions and every layer (input, recurrent and projection matmuls).
    """
    C, D, F, P, H = options.max_characters_per_token, options.char_embedding_dim, options.n_filters, options.projection_dim, options.lstm_dim
    conv = sum(2 * width * D * num * (C - width + 1) for width, num in options.filters)
    highway = options.n_highway * 2 * F * 2 * F
    projection = 2 * F * P
    lstm = options.n_lstm_layers * 2 * (2 * P * 4 * H + 2 * P * 4 * H + 2 * H * P)
    return {"char_cnn": conv, "highway": highway, "projection": projection, "lstm": lstm, "total": conv + highway + projection + lstm}


def train_flops_per_token(options, cutoffs=(), vocab_size: int = 0) -> float:
    """Training FLOPs per predicted token (per direction), a lower bound: 3x (forward + backward) the
    biLSTM's forward FLOPs and the adaptive softmax head's product, for both directions. The char CNN
    (run once per distinct token of a batch) and the softmax tails are left out."""
    head = 2 * options.projection_dim * (min(cutoffs) + len(cutoffs) if cutoffs else vocab_size)
    return 3 * (flops_per_token(options)["lstm"] + 2 * head)


def matmul_peak(threads: int, sizes=(512, 1024, 2048), seconds: float = 2.0, dtype: torch.dtype = torch.float32) -> float:
    """Best square-matmul rate in GFLOP/s on ``threads`` threads in ``dtype`` (float32: MKL; bfloat16:
    oneDNN, float32 accumulation): the machine's practical peak for that precision.

    Several sizes, best of many runs each, because a shared machine's single runs are noisy.
    """
    torch.set_num_threads(threads)
    rates = []
    for n in sizes:
        a, b, out = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype), torch.empty(n, n, dtype=dtype)
        for _ in range(3):
            torch.mm(a, b, out=out)
        best, end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            best = min(best, time.perf_counter() - start)
        rates.append(2 * n ** 3 / best / 1e9)
    return max(rates)


def machine_description() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, torch {torch.__version__}, OMP_WAIT_POLICY={policy}"


def note_load_after(raw: Dict) -> None:
    """Record and print the load average after a run, beside ``raw["load_average_before"]``:
    on a shared machine it tells whether the timings can be trusted."""
    raw["load_average_after"] = os.getloadavg()
    print(f"load average before {raw['load_average_before']}, after {raw['load_average_after']}", flush=True)


def proc_status_mb(field: str):
    """``VmRSS`` / ``VmHWM`` (peak) of this process in MB, from /proc (Linux); None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
