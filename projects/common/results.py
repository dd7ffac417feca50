"""What the projects' ``report.py`` share: per-seed scores into a results table and a bar chart.

Reads ``metrics/<model>/seed*.json`` (written by ``evaluate.py``) and
``training/<model>/seed*/train_time.json`` (written by ``train_seeds.py``);
reports mean and sample standard deviation over the seeds that exist, and
lists models with no finished seed as not run rather than leaving them out,
so a partial sweep can't pass for a full one. A project's ``report.py`` says
only what is its own (:class:`Task`): its models, its test set, its columns.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import typer

Run = Dict  # one seed's scores (evaluate.py's JSON) plus "train_s"
Score = Callable[[Run], float]


@dataclass
class Task:
    """A project's report: what to call things and which scores to show (fractions, shown in %)."""

    title: str  # the results.md heading, e.g. "CoNLL-2003 NER: scores on eng.testb"
    selection: str  # how model-best was chosen and what the test set is, in a sentence
    best_by: str  # what model-best maximises, e.g. "eng.testa F1"
    models: Dict[str, str]  # metrics/<name> -> row label
    columns: Dict[str, Score]  # main table columns (fractions)
    chart_groups: Dict[str, Score]  # bars per model
    chart_ylabel: str
    chart_title: str
    chart_alt: str
    chart_size: tuple = (7, 4)
    chart_floor: Optional[List[str]] = None  # the chart groups whose lowest run sets the y-axis floor (None: all)
    extra_sections: List[Callable[[Dict[str, List[Run]], Dict[str, str]], List[str]]] = field(default_factory=list)


def mean_sd(values: List[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "n/a"
    m = statistics.mean(values) * scale
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def load_runs(metrics_dir: Path, training_dir: Path, model: str) -> List[Run]:
    runs = []
    for path in sorted((metrics_dir / model).glob("seed*.json")):
        run = json.loads(path.read_text())
        timing = training_dir / model / path.stem / "train_time.json"
        run["train_s"] = json.loads(timing.read_text())["wall_s"] if timing.is_file() else None
        runs.append(run)
    return runs


def training_settings(training_dir: Path, best_by: str) -> Optional[str]:
    """The shared training settings, read back from a trained model's own config."""
    from spacy.util import load_config

    for cfg in sorted(training_dir.glob("*/seed*/model-best/config.cfg")):
        t = load_config(cfg, interpolate=False)["training"]
        return (f"max_steps={t['max_steps']}, max_epochs={t['max_epochs']}, eval_frequency={t['eval_frequency']}, "
                f"patience={t['patience']} (model-best = best {best_by} among the evaluations)")
    return None


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def chart(task: Task, rows: Dict[str, List[Run]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(task.chart_groups)
    done = [m for m in task.models if rows[m]]
    width = 0.8 / max(1, len(done))
    fig, ax = plt.subplots(figsize=task.chart_size)
    for i, model in enumerate(done):
        runs = rows[model]
        values = [[score(r) for r in runs] for score in task.chart_groups.values()]
        means = [100 * statistics.mean(v) for v in values]
        sds = [100 * statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        xs = [g + (i - (len(done) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, means, width, yerr=sds, capsize=3, label=f"{task.models[model].replace('`', '')} (n={len(runs)})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(task.chart_ylabel)
    floor = [task.chart_groups[g] for g in (task.chart_floor or groups)]
    lows = [100 * score(r) for m in done for r in rows[m] for score in floor]
    ax.set_ylim(max(0.0, min(lows, default=0.0) - 15), 100)
    ax.set_title(task.chart_title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def write_report(task: Task, metrics_dir: Path, training_dir: Path, output_md: Path, output_png: Path, note: str = "") -> None:
    rows = {m: load_runs(metrics_dir, training_dir, m) for m in task.models}
    columns = list(task.columns)
    lines = [
        f"# {task.title}",
        "",
        f"Mean ± sample standard deviation over seeds (n = seeds finished). {task.selection} "
        "Written by `scripts/report.py`.",
        "",
        f"- Training: {training_settings(training_dir, task.best_by) or 'n/a'}",
        *([f"- Note: {note}"] if note else []),
        f"- Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "| Model | Seeds | " + " | ".join(columns) + " | Training wall time (s) | Inference words/s |",
        "|---|---|" + "---|" * len(columns) + "---|---|",
    ]
    for model, label in task.models.items():
        runs = rows[model]
        if not runs:
            lines.append(f"| {label} | 0 | not run |" + " |" * (len(columns) + 1))
            continue
        train_s = [r["train_s"] for r in runs if r["train_s"] is not None]
        cells = [mean_sd([score(r) for r in runs], 100) for score in task.columns.values()]
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {mean_sd(train_s, digits=0)} | "
                     f"{mean_sd([r['words_per_s'] for r in runs], digits=0)} |")
    for section in task.extra_sections:
        lines += section(rows, task.models)
    drawn = any(rows.values()) and has_matplotlib()
    if any(rows.values()) and not drawn:
        lines += ["", "Chart not drawn: matplotlib is not installed (`pip install 'spacy-elmo[viz]'`)."]
    elif drawn:
        chart(task, rows, output_png)
        lines += ["", f"![{task.chart_alt}]({output_png.name})"]
    output_md.write_text("\n".join(lines) + "\n")
    print(f"Wrote {output_md}" + (f" and {output_png}" if drawn else ""))


def report_command(task: Task, extra_models: bool = False) -> Callable:
    """The ``report.py`` command of a project; ``extra_models`` adds ``--extra NAME=LABEL`` (more rows)."""

    def main(
        metrics_dir: Path = typer.Argument(Path("metrics"), file_okay=False),
        training_dir: Path = typer.Argument(Path("training"), file_okay=False),
        output_md: Path = typer.Option(Path("results.md"), "--output"),
        output_png: Path = typer.Option(Path("results.png"), "--chart"),
        note: str = typer.Option("", "--note", help="Free text added under the header, e.g. how the runs were limited"),
        extra: List[str] = typer.Option([], "--extra", hidden=not extra_models,
                                        help="Another model dir to report, as NAME=LABEL (repeatable)"),
    ):
        for item in extra:
            name, sep, label = item.partition("=")
            if not extra_models or not sep or not name or not label:
                raise typer.BadParameter(f"--extra takes NAME=LABEL (a folder under metrics/ and its row label), got {item!r}")
            task.models[name] = label
        write_report(task, metrics_dir, training_dir, output_md, output_png, note)

    return main
