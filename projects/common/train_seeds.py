"""Train one config once per seed with ``spacy train``, timing each run.

Each seed gets its own output directory (``OUT/seed{N}``) and a
``train_time.json`` with the wall time, written only after training
succeeded; finished seeds are skipped on a re-run, so an interrupted sweep
resumes where it stopped instead of starting over. Extra arguments after
the options are config overrides, exactly as ``spacy train`` takes them, so
every model of a project is trained with the same ``--training.*`` settings.
Training runs in this process through spaCy's own ``train`` (what ``spacy
train`` calls), which saves an interpreter start and a torch import per seed.
"""
from __future__ import annotations

import json
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
    from spacy.cli._util import parse_config_overrides
    from spacy.cli.train import train

    for seed in seed_list(seeds):
        out = output_dir / f"seed{seed}"
        timing = out / "train_time.json"
        if timing.is_file() and (out / "model-best" / "meta.json").is_file():
            print(f"[train_seeds] {out} already trained, skipping (delete it to retrain)")
            continue
        args = [str(config), "--output", str(out), "--gpu-id", str(gpu_id), "--system.seed", str(seed), *ctx.args]
        print("[train_seeds] spacy train " + " ".join(args), flush=True)
        overrides = parse_config_overrides([*ctx.args, "--system.seed", str(seed)])
        start = time.perf_counter()
        train(config, out, use_gpu=gpu_id, overrides=overrides)
        wall = time.perf_counter() - start
        timing.write_text(json.dumps({"seed": seed, "wall_s": round(wall, 1),
                                      "command": ["-m", "spacy", "train", *args]}, indent=2))
        print(f"[train_seeds] seed {seed}: {wall:.0f} s", flush=True)


if __name__ == "__main__":
    app()
