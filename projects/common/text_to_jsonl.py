"""Turn a plain-text corpus (one paragraph or sentence per line) into the JSONL
that ``spacy pretrain`` reads, so the pretrain baseline sees exactly the text
the ELMo biLM was trained on."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def main(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Plain text, one item per line"),
    output_path: Path = typer.Argument(..., dir_okay=False, help="Output .jsonl"),
    limit: int = typer.Option(0, "--limit", help="Keep only the first N non-empty lines (0 = all)"),
):
    output_path.parent.mkdir(parents=True, exist_ok=True)
    n_lines = n_words = 0
    with input_path.open(encoding="utf8") as src, output_path.open("w", encoding="utf8") as out:
        for line in src:
            text = line.strip()
            if not text:
                continue
            out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            n_lines += 1
            n_words += len(text.split())
            if limit and n_lines >= limit:
                break
    print(f"{input_path}: {n_lines} lines, {n_words} words -> {output_path}")


if __name__ == "__main__":
    typer.run(main)
