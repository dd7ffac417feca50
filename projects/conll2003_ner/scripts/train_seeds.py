"""Train one config once per seed with ``spacy train``, timing each run.

Each seed gets its own output directory (``OUT/seed{N}``) and a
``train_time.json`` with the wall time, written only after ``spacy train``
succeeded; finished seeds are skipped on a re-run, so an interrupted sweep
resumes where it stopped instead of starting over. Extra arguments after
the options are passed to ``spacy train`` unchanged (config overrides), so
every model of a project is trained with the same ``--training.*`` settings.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import typer

app = typer.Typer(add_completion=False)


def seed_list(text: str) -> List[int]:
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise typer.BadParameter(f"seeds must be integers separated by commas or spaces, got {text!r}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config: Path = typer.Argument(..., exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., file_okay=False),
    seeds: str = typer.Option("1,2,3", "--seeds", help="Comma-separated random seeds"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g"),
):
    for seed in seed_list(seeds):
        out = output_dir / f"seed{seed}"
        timing = out / "train_time.json"
        if timing.is_file() and (out / "model-best" / "meta.json").is_file():
            print(f"[train_seeds] {out} already trained, skipping (delete it to retrain)")
            continue
        cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(out),
               "--gpu-id", str(gpu_id), "--system.seed", str(seed), *ctx.args]
        print("[train_seeds] " + " ".join(cmd), flush=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        timing.write_text(json.dumps({"seed": seed, "wall_s": round(wall, 1), "command": cmd[1:]}, indent=2))
        print(f"[train_seeds] seed {seed}: {wall:.0f} s", flush=True)


if __name__ == "__main__":
    app()
