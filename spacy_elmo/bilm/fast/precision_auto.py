"""``precision = "auto"``: whether bf16 products pay on this CPU, measured once and kept.

WHY measure: where the CPU has native bf16 (:func:`~spacy_elmo.bilm.fast.cpu_bf16.bf16_native`),
whether it is faster is a property of the microarchitecture, not of a flag:

- AMX-BF16 (Intel Xeon 4th gen and later, where the OS/hypervisor exposes it) multiplies bf16
  tiles several times faster than AVX-512 does float32.
- AVX512-BF16 alone: on AMD Zen 4 bf16 products ran 2.2-2.7x float32 (issue 27); on the Intel Xeon of
  BENCHMARKS.md (no AMX) 0.53x, and the biLM's LSTM alone, 32 sentences per call, 0.77-0.82x.
- Without either, bf16 products are emulated: slower, never chosen (nothing is measured).

So ``"auto"`` times the model's own products (:func:`product_shapes`: the LSTM's input, recurrent and
projection products, the char CNN's stacked filter product, the highways and the token projection, at the
model's sizes, each weighted by how often a batch runs it) in float32 and bf16 on one thread (:func:`time_products`, a fraction of a second) and picks bf16 only where it is at
least :data:`BF16_MARGIN` times faster. WHAT it caches WHERE: the timings and the choice, per CPU
model, bf16 extensions, torch version, purpose (inference or autocast training) and model sizes
(:func:`cache_key`), in ``<user cache>/precision/verdicts.json`` (:func:`verdict_file`), and in this
process's memory (:func:`forget_verdicts` drops that), so each machine measures once.

The capability check is read as an attribute of :mod:`~spacy_elmo.bilm.fast.cpu_bf16` (not a copied
name), so patching ``cpu_bf16.cpu_capabilities`` reaches this module too.
"""
from __future__ import annotations

import functools
import json
import platform
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from ...atomic import atomic_path
from ...user_cache import cache_subdir
from . import cpu_bf16
from .cpu_bf16 import DTYPES

#: bf16 is chosen only where the model's products run at least this many times faster than float32.
#: WHY 1.2 and not 1.0: bf16 costs accuracy (relative RMS error ~0.4% per layer, BENCHMARKS.md), the
#: products are not the whole pass (gathers, the cell's pointwise ops and bf16 casts stay), and a
#: one-shot timing is noisy; a product mix only a little faster would be an end-to-end wash at best.
#: Where bf16 really pays it pays far more (AMX, Zen 4: 2x and up).
BF16_MARGIN = 1.2
#: Interleaved timing rounds per dtype (the minimum of each product's rounds is kept): robust to a
#: busy machine, which can only make a round slower. Fewer where one round is slow (huge models).
REPEATS = 4
#: Time the measurement aims to stay within (seconds of CPU, both dtypes, warm-up included; at least
#: two rounds are timed, ~1 s in all for the original 94M-parameter ELMo's training products on the Intel Xeon of BENCHMARKS.md).
MEASURE_BUDGET_S = 0.4
#: Rows of one LSTM step (a batch of sentences) and of the products over all tokens of a batch.
STEP_ROWS = 32
TOKEN_ROWS = 128
#: Tokens (new to the token cache) the char CNN convolves per batch, and the windows each.
CNN_TOKENS = 64
CNN_WINDOWS = 8
#: LSTM steps per layer and direction that one token-wide product stands for (a typical sentence).
STEPS = 16
PURPOSES = ("inference", "training")
CACHE_NAME = "verdicts.json"
CACHE_VERSION = 1


@dataclass(frozen=True)
class ProductSizes:
    """What the biLM's products depend on: its projection and LSTM widths, its char CNN, and how many LSTM
    layers and highways run them (the weights of the product mix)."""

    projection_dim: int
    lstm_dim: int
    n_filters: int
    widest_filter: int
    char_embedding_dim: int
    n_lstm_layers: int = 2
    n_highway: int = 1

    @classmethod
    def of(cls, options) -> "ProductSizes":
        """From a :class:`~spacy_elmo.bilm.options.BiLMOptions` (anything with its fields)."""
        return cls(
            int(options.projection_dim), int(options.lstm_dim), int(options.n_filters),
            int(max(width for width, _ in options.filters)), int(options.char_embedding_dim),
            int(options.n_lstm_layers), int(options.n_highway),
        )

    def key(self) -> str:
        return (f"P{self.projection_dim}-H{self.lstm_dim}-F{self.n_filters}x{self.widest_filter}x{self.char_embedding_dim}"
                f"-L{self.n_lstm_layers}-W{self.n_highway}")


#: ELMo small's sizes (``2x1024_128_2048cnn_1xhighway``): what ``"auto"`` measures when no model is named.
ELMO_SMALL = ProductSizes(projection_dim=128, lstm_dim=1024, n_filters=2048, widest_filter=7, char_embedding_dim=16,
                          n_lstm_layers=2, n_highway=1)


@dataclass(frozen=True)
class Product:
    """``[rows, inner] @ [outer, inner].T``, standing for ``count`` such products of a typical batch."""

    name: str
    rows: int
    inner: int
    outer: int
    count: float


def product_shapes(sizes: ProductSizes) -> Tuple[Product, ...]:
    """The model's products and how often each runs per batch, relative to one another: for each LSTM layer and
    direction, the input gates once over every token (``STEPS * STEP_ROWS`` rows, timed at ``TOKEN_ROWS``), the
    recurrent and projection products once per step; for the batch's new tokens (``CNN_TOKENS``: the token
    cache answers the rest), the char CNN's stacked filter product over their windows, each highway and the
    token projection."""
    p, h, f = sizes.projection_dim, sizes.lstm_dim, sizes.n_filters
    runs = 2 * sizes.n_lstm_layers  # both directions of every LSTM layer
    products = [
        Product("lstm input", TOKEN_ROWS, p, 4 * h, runs * STEPS * STEP_ROWS / TOKEN_ROWS),
        Product("lstm recurrent", STEP_ROWS, p, 4 * h, runs * STEPS),
        Product("lstm projection", STEP_ROWS, h, p, runs * STEPS),
        Product("char cnn filters", CNN_TOKENS * CNN_WINDOWS, sizes.widest_filter * sizes.char_embedding_dim, f, 1),
    ]
    if sizes.n_highway:
        products.append(Product("highways", CNN_TOKENS, f, 2 * f, sizes.n_highway))
    products.append(Product("token projection", CNN_TOKENS, f, p, 1))
    return tuple(products)


Timings = Dict[str, Dict[str, float]]  # product name -> {"fp32": seconds, "bf16": seconds}


def _inference_runner(x: torch.Tensor, weight: torch.Tensor, dtype: torch.dtype) -> Callable[[], object]:
    """One product as the inference route runs it: ``onednn.linear`` on a prepacked weight."""
    from . import onednn

    return lambda: onednn.linear(x, weight, None, dtype)


def _training_runner(x: torch.Tensor, weight: torch.Tensor, dtype: torch.dtype) -> Callable[[], object]:
    """One product as autocast training runs it: the forward product and the two of its backward pass."""
    x, weight = x.to(dtype), weight.to(dtype)
    grad = torch.ones(x.shape[0], weight.shape[0], dtype=dtype)

    def run() -> object:
        torch.mm(x, weight.t())
        torch.mm(grad, weight)
        return torch.mm(grad.t(), x)

    return run


def time_products(products: Sequence[Product], purpose: str = "inference") -> Timings:
    """Seconds of thread CPU time per product, float32 and bf16, on one intra-op thread: the minimum of
    interleaved rounds (fp32 and bf16 alternate, each after an untimed warm-up that builds oneDNN's
    kernels and weight copies). CPU time and the minimum make it robust to a busy machine."""
    runner = _training_runner if purpose == "training" else _inference_runner
    clock = _clock()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            generator = torch.Generator().manual_seed(0)
            names = ("fp32", "bf16")
            operands = [(torch.rand(p.rows, p.inner, generator=generator) - 0.5, torch.rand(p.outer, p.inner, generator=generator) - 0.5)
                        for p in products]
            runs = {name: [runner(x, w, DTYPES[name]) for x, w in operands] for name in names}
            started = clock()
            for name in names:
                for run in runs[name]:
                    run()
            warmup = clock() - started
            repeats = max(2, min(REPEATS, int(MEASURE_BUDGET_S / max(warmup, 1e-6)) - 1))
            best = {p.name: {name: float("inf") for name in names} for p in products}
            for round_ in range(repeats):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    for product, run in zip(products, runs[name]):
                        t0 = clock()
                        run()
                        best[product.name][name] = min(best[product.name][name], clock() - t0)
            return best
    finally:
        torch.set_num_threads(before)


def _clock() -> Callable[[], float]:
    """This thread's CPU time where the OS counts it finely (Linux, macOS: nanoseconds), else wall time
    (Windows counts thread time in 15.6 ms ticks, longer than most products here)."""
    try:
        fine = time.get_clock_info("thread_time").resolution <= 1e-6
    except (AttributeError, ValueError, OSError):
        fine = False
    return time.thread_time if fine else time.perf_counter


def speedup(products: Sequence[Product], timings: Timings) -> float:
    """float32 time / bf16 time over the product mix (each product weighted by how often it runs)."""
    fp32 = sum(p.count * timings[p.name]["fp32"] for p in products)
    bf16 = sum(p.count * timings[p.name]["bf16"] for p in products)
    return fp32 / max(bf16, 1e-12)


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    """The CPU's model as /proc/cpuinfo names it (with vendor, family, model and stepping, since
    hypervisors often show a generic name), else ``platform.processor()``, else the machine type."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown cpu"
    detail = " ".join(f"{k} {fields[k]}" for k in ("vendor_id", "cpu family", "model", "stepping") if fields.get(k))
    return f"{name} ({detail})" if detail else name


def cache_key(sizes: ProductSizes, purpose: str = "inference") -> str:
    """What a verdict depends on: the CPU model (and its bf16 extensions, which a hypervisor may hide),
    the torch version (its oneDNN), what the products are for and the model's sizes."""
    caps = cpu_bf16.cpu_capabilities()
    flags = "+".join(flag for flag in ("amx_bf16", "avx512_bf16", "bf16", "sve_bf16") if caps.get(flag)) or "none"
    return f"{cpu_model()} | bf16: {flags} | torch {torch.__version__} | {purpose} | {sizes.key()}"


def verdict_file() -> Path:
    """The JSON file of measured verdicts: ``<user cache>/precision/verdicts.json``."""
    return cache_subdir("precision") / CACHE_NAME


@dataclass
class Verdict:
    """What ``"auto"`` chose, and why: ``precision`` ``"fp32"`` or ``"bf16"``."""

    precision: str
    reason: str
    key: str
    speedup: Optional[float] = None  # float32 / bf16 time over the product mix
    timings: Timings = field(default_factory=dict)
    source: str = "measured"  # "measured", "cache" or "no native bf16"
    cache_file: Optional[str] = None

    def describe(self) -> str:
        """One line for ``info``: the choice, the measured ratio, the products and where it is kept."""
        if self.speedup is None:
            return f"auto = {self.precision} ({self.reason})"
        times = ", ".join(f"{name} {t['fp32'] * 1e3:.2f}/{t['bf16'] * 1e3:.2f} ms" for name, t in self.timings.items())
        where = f"; {'read from' if self.source == 'cache' else 'kept in'} {self.cache_file}" if self.cache_file else ""
        return f"auto = {self.precision} ({self.reason}; fp32/bf16 per product: {times}{where})"


def _read_cache(path: Path) -> Dict[str, dict]:
    """The verdicts in ``path``; a missing, unreadable, corrupt or other-version file counts as empty."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("verdicts"), dict):
        return {}
    return {k: v for k, v in data["verdicts"].items() if isinstance(v, dict)}


def _write_cache(path: Path, key: str, record: dict) -> bool:
    """Add one verdict (atomically; another process's verdict written meanwhile may be lost and
    measured again, never half-read). False where the cache folder cannot be written."""
    try:
        verdicts = _read_cache(path)
        verdicts[key] = record
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary name of this writer's own: two processes measuring at once (nlp.pipe(n_process=2), two
        # jobs) must not write into one shared temporary file (a mix of both, or the second rename failing).
        with atomic_path(path, unique=True) as tmp:
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "verdicts": verdicts}, indent=1, sort_keys=True), encoding="utf-8")
        return True
    except OSError:
        return False


def _from_record(key: str, record: dict, path: Path) -> Optional[Verdict]:
    """A cached measurement as a verdict, judged by today's :data:`BF16_MARGIN` (the file keeps the
    timings; its ``precision`` field only says what was chosen then). None where the record is broken."""
    try:
        ratio = float(record["speedup"])
        timings = {str(n): {d: float(t[d]) for d in ("fp32", "bf16")} for n, t in dict(record["timings"]).items()}
    except (KeyError, TypeError, ValueError):
        return None
    if not ratio > 0:  # also NaN
        return None
    return Verdict(_choose(ratio), _reason(ratio), key, ratio, timings, "cache", str(path))


def _choose(ratio: float) -> str:
    return "bf16" if ratio >= BF16_MARGIN else "fp32"


def _reason(ratio: float) -> str:
    faster = "faster" if ratio >= 1 else "slower"
    chosen = "pays" if ratio >= BF16_MARGIN else "does not pay"
    return f"bf16 products measured {ratio:.2f}x float32 here ({faster}); bf16 {chosen} at the {BF16_MARGIN}x margin"


_VERDICTS: Dict[str, Verdict] = {}
_LOCK = threading.Lock()


def auto_verdict(sizes: Optional[ProductSizes] = None, purpose: str = "inference", measure: bool = True) -> Verdict:
    """What ``"auto"`` means for a model of ``sizes`` (default ELMo small's) on this CPU: float32 without
    native bf16; else the measured verdict, from this process's memory, the cache file, or a fresh
    measurement (:func:`time_products`) that is then written there. ``measure=False`` never measures:
    where nothing is known yet it answers float32 with the reason "not measured yet"."""
    sizes = sizes or ELMO_SMALL
    key = cache_key(sizes, purpose)
    if not cpu_bf16.bf16_native():
        return Verdict("fp32", "no native bf16 on this CPU: bf16 would be emulated", key, source="no native bf16")
    with _LOCK:
        if key in _VERDICTS:
            return _VERDICTS[key]
        path = verdict_file()
        record = _read_cache(path).get(key)
        verdict = _from_record(key, record, path) if record is not None else None
        if verdict is None:
            if not measure:
                return Verdict("fp32", "not measured yet", key, source="not measured", cache_file=str(path))
            products = product_shapes(sizes)
            timings = time_products(products, purpose)
            ratio = speedup(products, timings)
            chosen = _choose(ratio)
            record = {"precision": chosen, "speedup": ratio, "timings": timings, "cpu": cpu_model(),
                      "torch": torch.__version__, "purpose": purpose, "sizes": asdict(sizes),
                      "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            written = _write_cache(path, key, record)
            verdict = Verdict(chosen, _reason(ratio), key, ratio, timings, "measured", str(path) if written else None)
        _VERDICTS[key] = verdict
        return verdict


def forget_verdicts() -> None:
    """Drop this process's remembered verdicts (the cache file stays): the next ``"auto"`` reads it again."""
    with _LOCK:
        _VERDICTS.clear()


def bf16_pays(sizes: Optional[ProductSizes] = None, purpose: str = "inference") -> bool:
    """Whether bf16 products run clearly faster than float32 ones here, for a model of ``sizes``:
    :func:`auto_verdict` (measured once per CPU model, torch version and sizes)."""
    return auto_verdict(sizes, purpose).precision == "bf16"
