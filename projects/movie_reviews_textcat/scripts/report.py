"""Collect the per-seed test scores of every model into results.md and a bar chart.

Reads ``metrics/<model>/seed*.json`` (written by evaluate.py) and
``training/<model>/seed*/train_time.json`` (written by train_seeds.py);
reports mean and sample standard deviation over the seeds that exist, and
lists models with no finished seed as not run rather than leaving them out,
so a partial sweep can't pass for a full one.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Dict, List, Optional

import typer

MODELS = {
    "baseline": "ensemble, CNN tok2vec (baseline)",
    "pretrain": "ensemble, CNN tok2vec + `spacy pretrain`",
    "elmo": "ensemble, CNN tok2vec + ELMo listener (textcat_elmo.cfg)",
}
METRICS = {"accuracy": "Accuracy", "macro_f": "Macro F1"}


def mean_sd(values: List[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "n/a"
    m = statistics.mean(values) * scale
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def load_runs(metrics_dir: Path, training_dir: Path, model: str) -> List[Dict]:
    runs = []
    for path in sorted((metrics_dir / model).glob("seed*.json")):
        run = json.loads(path.read_text())
        timing = training_dir / model / path.stem / "train_time.json"
        run["train_s"] = json.loads(timing.read_text())["wall_s"] if timing.is_file() else None
        runs.append(run)
    return runs


def training_settings(training_dir: Path) -> Optional[str]:
    """The shared training settings, read back from a trained model's own config."""
    from spacy.util import load_config

    for cfg in sorted(training_dir.glob("*/seed*/model-best/config.cfg")):
        t = load_config(cfg, interpolate=False)["training"]
        return (f"max_steps={t['max_steps']}, max_epochs={t['max_epochs']}, eval_frequency={t['eval_frequency']}, "
                f"patience={t['patience']} (model-best = best dev macro F1 among the evaluations)")
    return None


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def chart(rows: Dict[str, List[Dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [m for m in MODELS if rows[m]]
    width = 0.8 / max(1, len(done))
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, model in enumerate(done):
        runs = rows[model]
        values = [[r[k] for r in runs] for k in METRICS]
        means = [100 * statistics.mean(v) for v in values]
        sds = [100 * statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        xs = [g + (i - (len(done) - 1) / 2) * width for g in range(len(METRICS))]
        bars = ax.bar(xs, means, width, yerr=sds, capsize=3,
                      label=f"{MODELS[model].replace('`', '')} (n={len(runs)})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(METRICS)), list(METRICS.values()))
    ax.set_ylabel("score on test.csv (%)")
    lows = [100 * r[k] for m in done for r in rows[m] for k in METRICS]
    ax.set_ylim(max(0.0, min(lows, default=0.0) - 15), 100)
    ax.set_title("Movie reviews (pos/neg), mean ± sd over seeds")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(
    metrics_dir: Path = typer.Argument(Path("metrics"), file_okay=False),
    training_dir: Path = typer.Argument(Path("training"), file_okay=False),
    output_md: Path = typer.Option(Path("results.md"), "--output"),
    output_png: Path = typer.Option(Path("results.png"), "--chart"),
    note: str = typer.Option("", "--note", help="Free text added under the header, e.g. how the runs were limited"),
):
    rows = {m: load_runs(metrics_dir, training_dir, m) for m in MODELS}
    lines = [
        "# Movie reviews (pos/neg): scores on test.csv",
        "",
        "Mean ± sample standard deviation over seeds (n = seeds finished). Model selection (model-best) "
        "uses the dev split held out from train.csv only; test.csv is read once per final model. "
        "Written by `scripts/report.py`.",
        "",
        f"- Training: {training_settings(training_dir) or 'n/a'}",
        *([f"- Note: {note}"] if note else []),
        f"- Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "| Model | Seeds | Accuracy | Macro F1 | Training wall time (s) | Inference words/s |",
        "|---|---|---|---|---|---|",
    ]
    for model, label in MODELS.items():
        runs = rows[model]
        if not runs:
            lines.append(f"| {label} | 0 | not run | | | |")
            continue
        train_s = [r["train_s"] for r in runs if r["train_s"] is not None]
        lines.append(
            f"| {label} | {len(runs)} | {mean_sd([r['accuracy'] for r in runs], 100)} | "
            f"{mean_sd([r['macro_f'] for r in runs], 100)} | {mean_sd(train_s, digits=0)} | "
            f"{mean_sd([r['words_per_s'] for r in runs], digits=0)} |"
        )
    if any(rows.values()) and not has_matplotlib():
        lines += ["", "Chart not drawn: matplotlib is not installed (`pip install 'spacy-elmo[viz]'`)."]
    elif any(rows.values()):
        chart(rows, output_png)
        lines += ["", f"![Accuracy and macro F1 per model]({output_png.name})"]
    output_md.write_text("\n".join(lines) + "\n")
    print(f"Wrote {output_md}" + (f" and {output_png}" if any(rows.values()) and has_matplotlib() else ""))


if __name__ == "__main__":
    typer.run(main)
