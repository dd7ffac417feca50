"""Learning curves and tuning tables from ``train_seeds.py`` runs, for both benchmark projects.

Runs live in ``TRAINING/<size>/<model>/seed<N>/`` (``<size>``: the number of training docs, or
``all``); each finished seed has ``model-best/meta.json`` (its best dev score, which chose the
checkpoint) and, once evaluated, ``METRICS/<size>/<model>/seed<N>.json`` (its test score, read once).
Writes a markdown table (dev and test, mean ± sd over seeds, per size and model) and a PNG of test
score against training-set size. Earlier full-data runs whose folders are gone can be added with
``--recorded``: a JSON file ``{"<size>": {"<model>": {"test": S, "dev": S, "note": "..."}}}`` where each
``S`` is a list of per-seed scores (0-1) or, where only the summary was kept, ``{"mean": %, "sd": %, "n": N}``.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer

app = typer.Typer(add_completion=False)


def finished_seeds(model_dir: Path) -> List[Path]:
    return sorted(p for p in model_dir.glob("seed*")
                  if (p / "train_time.json").is_file() and (p / "model-best" / "meta.json").is_file())


def dev_score(seed_dir: Path, metric: str) -> Optional[float]:
    meta = json.loads((seed_dir / "model-best" / "meta.json").read_text())
    value = meta.get("performance", {}).get(metric)
    return None if value is None else float(value)


def test_score(metrics_dir: Path, seed_dir: Path, metric: str) -> Optional[float]:
    path = metrics_dir / f"{seed_dir.name}.json"
    return float(json.loads(path.read_text())[metric]) if path.is_file() else None


def stats(scores) -> Optional[Tuple[float, Optional[float], int]]:
    """(mean %, sd % or None if not kept, n) of per-seed scores (0-1), or of a recorded summary in %."""
    if isinstance(scores, dict):
        sd = scores.get("sd")
        return float(scores["mean"]), None if sd is None else float(sd), int(scores["n"])
    if not scores:
        return None
    sd = 100 * statistics.stdev(scores) if len(scores) > 1 else 0.0
    return 100 * statistics.mean(scores), sd, len(scores)


def mean_sd(scores) -> str:
    summary = stats(scores)
    if summary is None:
        return "–"
    mean, sd, n = summary
    if n == 1:
        return f"{mean:.2f} (n=1)"
    return f"{mean:.2f} (n={n}, sd not kept)" if sd is None else f"{mean:.2f} ± {sd:.2f} (n={n})"


def size_key(size: str) -> float:
    return float("inf") if size == "all" else float(size)


def collect(training: Path, metrics: Path, dev_metric: str, test_metric: str, recorded: Optional[Path]):
    """{size: {model: {"dev": [...], "test": [...], "note": str}}}"""
    table: Dict[str, Dict[str, Dict]] = {}
    for size_dir in sorted(p for p in training.iterdir() if p.is_dir()):
        for model_dir in sorted(p for p in size_dir.iterdir() if p.is_dir()):
            seeds = finished_seeds(model_dir)
            if not seeds:
                continue
            dev = [s for s in (dev_score(d, dev_metric) for d in seeds) if s is not None]
            test = [s for s in (test_score(metrics / size_dir.name / model_dir.name, d, test_metric) for d in seeds)
                    if s is not None]
            table.setdefault(size_dir.name, {})[model_dir.name] = {"dev": dev, "test": test, "note": ""}
    if recorded is not None:
        for size, models in json.loads(recorded.read_text()).items():
            for model, entry in models.items():
                table.setdefault(size, {}).setdefault(model, {"dev": entry.get("dev", []), "test": entry.get("test", []),
                                                              "note": entry.get("note", "recorded")})
    return dict(sorted(table.items(), key=lambda kv: size_key(kv[0])))


def chart(table, labels: Dict[str, str], out: Path, ylabel: str, xlabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(table)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for model, label in labels.items():
        xs, ys, errs = [], [], []
        for i, size in enumerate(sizes):
            summary = stats(table[size].get(model, {}).get("test", []))
            if summary is not None:
                xs.append(i)
                ys.append(summary[0])
                errs.append(summary[1] or 0.0)
        if xs:
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


@app.command()
def main(
    training: Path = typer.Argument(..., exists=True, file_okay=False, help="e.g. training/curve"),
    metrics: Path = typer.Argument(..., file_okay=False, help="e.g. metrics/curve"),
    output: Path = typer.Option(..., "--output", help="Markdown table"),
    chart_path: Optional[Path] = typer.Option(None, "--chart", help="PNG of test score against training size"),
    model: List[str] = typer.Option([], "--model", help="NAME=LABEL, in the order of the table (others follow)"),
    dev_metric: str = typer.Option("ents_f", "--dev-metric"),
    test_metric: str = typer.Option("ents_f", "--test-metric"),
    dev_name: str = typer.Option("dev", "--dev-name"),
    test_name: str = typer.Option("test", "--test-name"),
    size_name: str = typer.Option("training docs", "--size-name"),
    title: str = typer.Option("Learning curve", "--title"),
    recorded: Optional[Path] = typer.Option(None, "--recorded", exists=True, dir_okay=False),
    note: str = typer.Option("", "--note"),
):
    labels: Dict[str, str] = {}
    for item in model:
        name, sep, label = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--model takes NAME=LABEL, got {item!r}")
        labels[name] = label
    table = collect(training, metrics, dev_metric, test_metric, recorded)
    for size in table.values():
        for name in size:
            labels.setdefault(name, name)
    lines = [f"# {title}", "",
             f"Mean ± sample standard deviation over seeds; {dev_name} chose each run's checkpoint, {test_name} "
             "was read once per final model (– = not evaluated on it). Written by `projects/common/learning_curve.py`.", ""]
    if note:
        lines += [f"- Note: {note}", ""]
    for size, models in table.items():
        lines += [f"## {size} {size_name}", "", f"| Model | {dev_name} | {test_name} | |", "|---|---|---|---|"]
        for name, label in labels.items():
            if name in models:
                entry = models[name]
                lines.append(f"| {label} | {mean_sd(entry['dev'])} | {mean_sd(entry['test'])} | {entry['note']} |")
        lines.append("")
    if chart_path is not None:
        chart(table, labels, chart_path, f"{test_name} (%)", size_name, title)
        lines += [f"![{title}]({chart_path.name})", ""]
    output.write_text("\n".join(lines))
    print(f"{output}" + (f", {chart_path}" if chart_path else ""))


if __name__ == "__main__":
    app()
