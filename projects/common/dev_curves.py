"""Dev-score curves (mean over seeds at each evaluation step) from the console logs of
``train_seeds.py`` runs, for the models named: the curves behind each project's model-best.

    python ../common/dev_curves.py logs/*.log --model training/curve/100/baseline --model ...

Each ``[train_seeds] spacy train ... --output DIR/seedN`` line starts a run; the rows of spaCy's
console table that follow it are that run's evaluations. ``--column`` counts the table's columns from
the right (4: ENTS_F in a NER table). Only seeds that finished (``train_time.json``) count.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

import typer

RUN = re.compile(r"^\[train_seeds\] spacy train .*--output (\S+)/seed(\d+)")
ROW = re.compile(r"^\s*\d+\s+(\d+)\s+[\d.\s]+$")  # epoch, step, losses and scores


def read_runs(paths: List[Path], column: int) -> Dict[Tuple[str, str], Dict[int, float]]:
    """{(output dir, seed): {step: score}} over all logs; a rerun of a seed replaces the earlier one."""
    runs: Dict[Tuple[str, str], Dict[int, float]] = {}
    for path in paths:
        current = None
        for line in path.read_text(errors="replace").splitlines():
            match = RUN.match(line)
            if match:
                current = (match.group(1), match.group(2))
                runs[current] = {}
            elif current is not None and (row := ROW.match(line)):
                runs[current][int(row.group(1))] = float(line.split()[-column])
    return runs


def main(
    logs: List[Path] = typer.Argument(..., exists=True, dir_okay=False),
    model: List[str] = typer.Option(..., "--model", help="an output dir of train_seeds.py, e.g. training/curve/100/baseline"),
    column: int = typer.Option(4, "--column", min=1, help="the score's column, counted from the right"),
):
    runs = read_runs(logs, column)
    curves = {}
    for name in model:
        seeds = [scores for (out, seed), scores in runs.items()
                 if out == name and scores and (Path(out) / f"seed{seed}" / "train_time.json").is_file()]
        steps = sorted(set.intersection(*(set(s) for s in seeds))) if seeds else []
        curves[name] = {step: (statistics.mean(s[step] for s in seeds), len(seeds)) for step in steps}
    all_steps = sorted({step for curve in curves.values() for step in curve})
    print("| model (seeds) | " + " | ".join(str(step) for step in all_steps) + " |")
    print("|---|" + "---|" * len(all_steps))
    for name, curve in curves.items():
        n = next(iter(curve.values()))[1] if curve else 0
        cells = [f"{curve[step][0]:.1f}" if step in curve else "" for step in all_steps]
        print(f"| {name} ({n}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    typer.run(main)
