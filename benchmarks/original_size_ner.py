"""The path of a user who brings the original ELMo weights: ``convert``, then ``spacy train`` NER.

WHY: the published ELMo (93.6M parameters, 1024-wide vectors) is 37x the packaged model. A user needs
to know that options.json + hdf5 -> ``convert`` -> ``configs/ner_elmo.cfg`` works end to end on a CPU,
what an epoch costs before and after the layer cache is full, how much memory it takes and how large
``cache_size_mb`` must be. Nothing is downloaded: the weights are random, of exactly the original
shape, in the original layout (written by the package's own ``save_original``, as ``export`` does).

    OMP_NUM_THREADS=1 python benchmarks/original_size_ner.py --json benchmarks/results/original_size_ner.json
    OMP_NUM_THREADS=1 python benchmarks/original_size_ner.py --train-docs 0 --dev-docs 0   # all of eng.train / eng.testa

Steps, each a subprocess run the way a user runs it: ``scripts/convert_conll.py`` (first N docs of
eng.train and eng.testa, 10 sentences a doc), ``python -m spacy_elmo convert``, and ``python -m spacy
train configs/ner_elmo.cfg --paths.elmo <converted>`` for 2 epochs with ``cache_size_mb`` set by
:func:`cache_bytes`. This file is also that run's ``--code``: importing it registers
``spacy-elmo-bench.TimedLogger.v1`` (spaCy's console logger plus a trace of every update, evaluation
and checkpoint save, the layer cache's size and hits, and the process's peak RSS).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when `spacy train --code` imports this file
from common import proc_status_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPACY_ELMO_SHARED", ROOT.parent / "shared"))
CONLL = SHARED / "data" / "conll2003"
CONVERT_CONLL = ROOT / "projects" / "conll2003_ner" / "scripts" / "convert_conll.py"
NER_CONFIG = ROOT / "configs" / "ner_elmo.cfg"
TRACE_ENV = "ELMO_BENCH_TRACE"
LOGGER_NAME = "spacy-elmo-bench.TimedLogger.v1"

# AllenNLP's elmo_2x4096_512_2048cnn_2xhighway_options.json (the "original" model; also the shape of the one trained on 5.5B tokens).
ORIGINAL_OPTIONS: Dict[str, Any] = {
    "lstm": {"use_skip_connections": True, "projection_dim": 512, "cell_clip": 3, "proj_clip": 3, "dim": 4096, "n_layers": 2},
    "char_cnn": {
        "activation": "relu",
        "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
        "n_highway": 2,
        "embedding": {"dim": 16},
        "n_characters": 262,
        "max_characters_per_token": 50,
    },
}
ORIGINAL_STEM = "elmo_2x4096_512_2048cnn_2xhighway"
KEY_BYTES_PER_TOKEN = 64  # what the layer cache counts per token string of a key


def cache_bytes(n_tokens: int, n_layers: int = 3, dim: int = 1024) -> int:
    """Layer cache bytes for ``n_tokens`` distinct-sentence tokens: float32 layers plus key overhead."""
    return n_tokens * (n_layers * dim * 4 + KEY_BYTES_PER_TOKEN)


def write_original_weights(folder: Path, options: Dict[str, Any] = ORIGINAL_OPTIONS, stem: str = ORIGINAL_STEM, seed: int = 0) -> Tuple[Path, Path]:
    """Random weights (torch's default init, ``seed``) of ``options``' shape, as ``<stem>_options.json`` +
    ``<stem>_weights.hdf5`` in the original layout; returns both paths."""
    import torch

    from spacy_elmo.bilm import BiLM, BiLMOptions, save_original

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    bilm = BiLM(BiLMOptions.from_dict(options))
    weights = save_original(bilm, folder, weight_name=f"{stem}_weights.hdf5")
    (folder / "options.json").unlink()  # save_original's copy; the user's file is the published one, verbatim
    options_path = folder / f"{stem}_options.json"
    options_path.write_text(json.dumps(options) + "\n", encoding="utf-8")
    return options_path, weights


# -- the trace, recorded inside the `spacy train` process --------------------------------------------------------
def _cache_stats(nlp) -> Dict[str, Any]:
    """The elmo component's layer cache counters (empty if this version keeps them elsewhere)."""
    cache = getattr(getattr(nlp.get_pipe("elmo"), "model", None), "cache", None) if "elmo" in nlp.pipe_names else None
    if cache is None:
        return {}
    return {"bytes": cache.n_bytes, "max_bytes": cache.max_bytes, "entries": len(cache), "hits": cache.hits, "misses": cache.misses}


def _timed(events: List[Dict[str, Any]], kind: str, fn, extra=None):
    def wrapper(*args, **kwargs):
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            event = {"kind": kind, "start": start, "end": time.time()}
            if extra is not None:
                event.update(extra(args))
            events.append(event)

    return wrapper


def timed_logger(progress_bar=False):
    """spaCy's console logger, plus a JSON trace at ``$ELMO_BENCH_TRACE`` when training ends."""
    from spacy.util import registry

    console = registry.loggers.get("spacy.ConsoleLogger.v3")(progress_bar=progress_bar or None)  # v1's False is v3's None

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        log_step, finalize = console(nlp, stdout, stderr)
        events: List[Dict[str, Any]] = []
        seen: set = set()
        epoch = [0]

        def epoch_of(args):
            # spaCy yields the same Example objects every epoch: a repeat starts the next one.
            examples = list(args[0])
            if examples and id(examples[0]) in seen:
                epoch[0] += 1
                seen.clear()
            seen.update(id(eg) for eg in examples)
            return {"epoch": epoch[0], "words": sum(len(eg) for eg in examples), "cache": _cache_stats(nlp)}

        # The training loop looks these up on the instance at call time, so wrapping them here times each call.
        nlp.update = _timed(events, "update", nlp.update, epoch_of)
        nlp.evaluate = _timed(events, "evaluate", nlp.evaluate, lambda _args: {"cache": _cache_stats(nlp)})
        nlp.to_disk = _timed(events, "save", nlp.to_disk)
        setup_time = time.time()

        def done():
            finalize()
            trace = {
                "setup_time": setup_time,
                "finalize_time": time.time(),
                "events": events,
                "cache": _cache_stats(nlp),
                "vm_hwm_mb": proc_status_mb("VmHWM"),
                "vm_rss_mb": proc_status_mb("VmRSS"),
            }
            path = os.environ.get(TRACE_ENV)
            if path:
                Path(path).write_text(json.dumps(trace))

        return log_step, done

    return setup


def _register() -> None:
    from spacy.util import registry

    if LOGGER_NAME not in registry.loggers:
        registry.loggers.register(LOGGER_NAME, func=timed_logger)


# -- the steps, run as a user runs them --------------------------------------------------------------------------
def run_step(cmd: List[str], env: Dict[str, str]) -> Dict[str, Any]:
    """Run ``cmd`` to completion; its wall time and its own peak RSS (``wait4``); exits on failure."""
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    start = time.time()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"step failed with status {proc.returncode}: {' '.join(str(c) for c in cmd)}")
    return {"command": " ".join(str(c) for c in cmd), "start": start, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def conll_words(path: Path) -> int:
    """Tokens of a CoNLL-2003 file (-DOCSTART- lines excluded)."""
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() and not line.startswith("-DOCSTART-"))


def docbin_sentences(path: Path) -> List[List[str]]:
    import spacy
    from spacy.tokens import DocBin

    docs = DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)
    return [[t.text for t in sent] for doc in docs for sent in doc.sents]


def summarize_trace(trace: Dict[str, Any], n_epochs: int) -> Dict[str, Any]:
    """Per epoch: wall time (first update to the next epoch's first update, or to the end), and within it
    the time in updates, evaluations and checkpoint saves; the cache counters at the epoch's last update."""
    events = sorted(trace["events"], key=lambda e: e["start"])
    updates = [e for e in events if e["kind"] == "update"]
    starts = [min(e["start"] for e in updates if e["epoch"] == k) for k in range(n_epochs)]
    bounds = starts + [trace["finalize_time"]]
    epochs = []
    before = {"hits": 0, "misses": 0}
    for k in range(n_epochs):
        inside = [e for e in events if bounds[k] <= e["start"] < bounds[k + 1]]
        spent = {kind: sum(e["end"] - e["start"] for e in inside if e["kind"] == kind) for kind in ("update", "evaluate", "save")}
        cache = [e["cache"] for e in inside if e.get("cache")]
        after = cache[-1] if cache else {}
        epochs.append(
            {
                "epoch": k + 1,
                "wall_s": bounds[k + 1] - bounds[k],
                "update_s": spent["update"],
                "evaluate_s": spent["evaluate"],
                "save_s": spent["save"],
                "n_updates": sum(1 for e in inside if e["kind"] == "update"),
                "n_evaluations": sum(1 for e in inside if e["kind"] == "evaluate"),
                "n_saves": sum(1 for e in inside if e["kind"] == "save"),
                "words": sum(e["words"] for e in inside if e["kind"] == "update"),
                "cache_after": after,
                "cache_hits": after.get("hits", 0) - before.get("hits", 0),
                "cache_misses": after.get("misses", 0) - before.get("misses", 0),
            }
        )
        before = after or before
    # biLM rows per update: the segments an update missed in the cache (one biLM call per update here)
    seen, computed = 0, []
    for e in events:
        if e.get("cache"):
            if e["kind"] == "update" and e["cache"]["misses"] > seen:
                computed.append(e["cache"]["misses"] - seen)
            seen = e["cache"]["misses"]
    if computed:
        epochs[0]["segments_per_computing_update"] = sum(computed) / len(computed)
    evaluations = [e["end"] - e["start"] for e in events if e["kind"] == "evaluate"]
    return {"epochs": epochs, "evaluate_s": evaluations, "save_s": [e["end"] - e["start"] for e in events if e["kind"] == "save"]}


def measure_bilm_speed(model_dir: Path, sentences: List[List[str]], batches: List[int]) -> List[Dict[str, float]]:
    """Words/s of ``embed_sentences`` over ``sentences``, ``batch`` sentences a call, for each batch size
    (after one warm-up call). WHY: at the original size each LSTM time step multiplies by ~170 MB of
    recurrent and projection weights whatever the number of rows, so words/s grows with the sentences per call."""
    from spacy_elmo.bilm import load_bilm

    bilm = load_bilm(model_dir)
    words = sum(len(s) for s in sentences)
    out = []
    for batch in batches:
        bilm.embed_sentences(sentences[:batch])
        start = time.perf_counter()
        for i in range(0, len(sentences), batch):
            bilm.embed_sentences(sentences[i : i + batch])
        seconds = time.perf_counter() - start
        out.append({"batch": batch, "words": words, "seconds": seconds, "words_per_s": words / seconds})
    return out


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-docs", type=int, default=20, help="first N docs (10 sentences each) of eng.train; 0 = all")
    parser.add_argument("--dev-docs", type=int, default=10, help="first N docs of eng.testa; 0 = all")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--eval-frequency", type=int, default=10, help="spacy train's [training] eval_frequency (steps)")
    parser.add_argument("--cache-margin", type=float, default=1.05, help="cache_size_mb = estimate x this")
    parser.add_argument("--weights-dir", type=Path, default=None, help="where the random original weights are (written if absent)")
    parser.add_argument("--options", type=Path, default=None, help="another options.json shape (a quick check of the path); default: the original")
    parser.add_argument("--workdir", type=Path, default=None, help="corpus, converted model, training output (default: a temp dir, removed)")
    parser.add_argument("--speed-sentences", type=int, default=60, help="train sentences for the direct biLM words/s (0: skip)")
    parser.add_argument("--speed-batches", default="8,32", help="sentences per embed_sentences call, for the direct words/s")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    for path in (CONLL / "eng.train", CONLL / "eng.testa", CONVERT_CONLL, NER_CONFIG):
        if not path.is_file():
            raise SystemExit(f"{path} not found: put ../shared beside the checkout (or set SPACY_ELMO_SHARED) and run from a full checkout")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="original_size_ner_"))
    weights_dir = args.weights_dir or workdir / "original"
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", env["OMP_NUM_THREADS"])
    env[TRACE_ENV] = str(workdir / "trace.json")
    py = sys.executable
    results: Dict[str, Any] = {"machine": _machine(), "load_average_before": os.getloadavg(), "threads": env["OMP_NUM_THREADS"]}
    try:
        options = json.loads(args.options.read_text()) if args.options else ORIGINAL_OPTIONS
        stem = args.options.stem if args.options else ORIGINAL_STEM
        results["options"] = options
        options_path = weights_dir / f"{stem}_options.json"
        weights_path = weights_dir / f"{stem}_weights.hdf5"
        start = time.time()
        if not weights_path.is_file():
            options_path, weights_path = write_original_weights(weights_dir, options, stem)
        results["write_weights_s"] = time.time() - start
        results["hdf5_mb"] = weights_path.stat().st_size / 2**20

        corpus = {}
        for split, name, limit in (("train", "eng.train", args.train_docs), ("dev", "eng.testa", args.dev_docs)):
            out = workdir / "corpus" / f"{split}.spacy"
            run_step([py, CONVERT_CONLL, CONLL / name, out, "--n-sents", "10", "--limit", str(limit)], env)
            sentences = docbin_sentences(out)
            corpus[split] = {"path": str(out), "docs": limit or "all", "sentences": len(sentences), "words": sum(map(len, sentences))}
        results["corpus"] = corpus

        native = workdir / "elmo_native"
        results["convert"] = run_step([py, "-m", "spacy_elmo", "convert", options_path, weights_path, native], env)
        results["native_mb"] = sum(p.stat().st_size for p in native.iterdir()) / 2**20

        words = corpus["train"]["words"] + corpus["dev"]["words"]
        lstm = options["lstm"]
        layers, dim = lstm["n_layers"] + 1, 2 * lstm["projection_dim"]
        estimate = cache_bytes(words, layers, dim)
        cache_mb = math.ceil(estimate * args.cache_margin / 2**20)
        results["cache"] = {"layers": layers, "dim": dim, "estimate_bytes": estimate, "estimate_mb": estimate / 2**20, "cache_size_mb": cache_mb}
        output = workdir / "training"
        train = run_step(
            [py, "-m", "spacy", "train", NER_CONFIG, "--output", output, "--code", Path(__file__).resolve(),
             "--paths.train", corpus["train"]["path"], "--paths.dev", corpus["dev"]["path"], "--paths.elmo", native,
             "--components.elmo.cache_size_mb", str(cache_mb), "--training.max_epochs", str(args.epochs),
             "--training.max_steps", "0", "--training.eval_frequency", str(args.eval_frequency),
             "--training.logger.@loggers", LOGGER_NAME],
            env,
        )
        trace = json.loads((workdir / "trace.json").read_text())
        train["startup_s"] = trace["setup_time"] - train["start"]
        train["after_training_s"] = train["start"] + train["wall_s"] - trace["finalize_time"]
        train["vm_hwm_mb"] = trace["vm_hwm_mb"]
        train.update(summarize_trace(trace, args.epochs))
        train["cache_final"] = trace["cache"]
        train["output_mb"] = sum(p.stat().st_size for p in output.rglob("*") if p.is_file()) / 2**20
        meta = json.loads((output / "model-last" / "meta.json").read_text())
        train["dev_ents_f"] = meta.get("performance", {}).get("ents_f")
        results["train"] = train
        if args.speed_sentences:
            sentences = docbin_sentences(Path(corpus["train"]["path"]))[: args.speed_sentences]
            results["bilm_direct"] = measure_bilm_speed(native, sentences, [int(b) for b in args.speed_batches.split(",")])
        results["full_conll_estimate"] = extrapolate(results)
    finally:
        results["load_average_after"] = os.getloadavg()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


def extrapolate(results: Dict[str, Any]) -> Dict[str, Any]:
    """Full eng.train + eng.testa, linearly from the measured per-word update and evaluation times."""
    train_words, dev_words = conll_words(CONLL / "eng.train"), conll_words(CONLL / "eng.testa")
    measured_train, measured_dev = results["corpus"]["train"]["words"], results["corpus"]["dev"]["words"]
    e1, e2 = results["train"]["epochs"][0], results["train"]["epochs"][-1]
    evals = results["train"]["evaluate_s"]
    need = cache_bytes(train_words + dev_words, results["cache"]["layers"], results["cache"]["dim"])
    cache_used = results["train"]["cache_final"].get("bytes", 0)
    return {
        "train_words": train_words,
        "dev_words": dev_words,
        "epoch1_update_s": e1["update_s"] * train_words / measured_train,
        "later_epoch_update_s": e2["update_s"] * train_words / measured_train,
        "first_dev_evaluation_s": evals[0] * dev_words / measured_dev if evals else None,
        "cache_needed_mb": need / 2**20,
        "peak_rss_mb": results["train"]["vm_hwm_mb"] - cache_used / 2**20 + need / 2**20,
    }


def _machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def markdown(r: Dict[str, Any]) -> str:
    t, c, x = r["train"], r["corpus"], r["full_conll_estimate"]
    e1, e2 = t["epochs"][0], t["epochs"][-1]
    derived = (e1["update_s"] - e2["update_s"]) and c["train"]["words"] / (e1["update_s"] - e2["update_s"])
    lines = [
        f"Machine: {r['machine']}; OMP_NUM_THREADS={r['threads']}; load average {r['load_average_before']} -> {r['load_average_after']}",
        f"Corpus: train {c['train']['docs']} docs ({c['train']['sentences']} sentences, {c['train']['words']:,} words), "
        f"dev {c['dev']['docs']} docs ({c['dev']['sentences']} sentences, {c['dev']['words']:,} words)",
        "",
        "| step | wall s | peak RSS MB |",
        "|---|---|---|",
        f"| write random original weights (hdf5 {r['hdf5_mb']:.0f} MB) | {r['write_weights_s']:.1f} | (in this process) |",
        f"| `python -m spacy_elmo convert` (native {r['native_mb']:.0f} MB) | {r['convert']['wall_s']:.1f} | {r['convert']['peak_rss_mb']:,.0f} |",
        f"| `spacy train` total | {t['wall_s']:.1f} | {t['peak_rss_mb']:,.0f} (VmHWM {t['vm_hwm_mb']:,.0f}) |",
        f"| of which start-up (imports, loading the biLM, initialize) | {t['startup_s']:.1f} | |",
        f"| of which after the last update (final save) | {t['after_training_s']:.1f} | |",
        "",
        "| epoch | wall s | updates s (words/s) | evaluations s (count) | checkpoint saves s (count) | cache MB at the end | cache hits / misses (segments) |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in t["epochs"]:
        cache = e["cache_after"]
        lines.append(
            f"| {e['epoch']} | {e['wall_s']:.1f} | {e['update_s']:.1f} ({e['words'] / e['update_s']:,.0f}) | {e['evaluate_s']:.1f} ({e['n_evaluations']}) "
            f"| {e['save_s']:.1f} ({e['n_saves']}) | {cache.get('bytes', 0) / 2**20:.1f} | {e['cache_hits']} / {e['cache_misses']} |"
        )
    cache = t["cache_final"]
    lines += [
        "",
        f"Layer cache: estimate {r['cache']['estimate_mb']:.1f} MB (train + dev words x ({r['cache']['layers']} x {r['cache']['dim']} x 4 B + 64 B)), "
        f"set cache_size_mb = {r['cache']['cache_size_mb']}, used {cache.get('bytes', 0) / 2**20:.1f} MB in {cache.get('entries', '?')} entries.",
        f"Evaluations (s): {', '.join(f'{s:.1f}' for s in t['evaluate_s'])}; checkpoint saves (s): {', '.join(f'{s:.1f}' for s in t['save_s'])}; "
        f"training output {t['output_mb']:.0f} MB.",
        f"biLM words/s: {derived:,.0f} derived (train words / (epoch 1 - epoch {e2['epoch']} update time); "
        f"{e1.get('segments_per_computing_update', 0):.1f} sentences per biLM call in epoch 1)"
        + "".join(f"; {d['words_per_s']:,.0f} measured (`embed_sentences`, {d['batch']} sentences a call, {d['words']} words)" for d in r.get("bilm_direct", [])),
        f"Dev ents_f after training (random biLM weights: not a quality figure): {t['dev_ents_f']}",
        "",
        f"Extrapolation to all of eng.train ({x['train_words']:,} words) + eng.testa ({x['dev_words']:,}), linear in words: "
        f"epoch 1 updates ~{x['epoch1_update_s'] / 60:.0f} min, later epochs ~{x['later_epoch_update_s'] / 60:.0f} min, "
        f"first dev evaluation ~{(x['first_dev_evaluation_s'] or 0) / 60:.0f} min; cache needed {x['cache_needed_mb']:,.0f} MB; "
        f"peak RSS ~{x['peak_rss_mb']:,.0f} MB.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
else:
    _register()  # imported by `spacy train --code`
