"""``package``: a spaCy pipeline package for a biLM or a trained pipeline (``spacy.load(NAME)`` once installed)."""
from pathlib import Path
from typing import Optional

import typer

from ._app import app
from ._common import clean_errors


@app.command()
@clean_errors
def package(
    model: str = typer.Argument(..., help="A packaged biLM's name (en_elmo_small), any --model, or a trained pipeline dir."),
    output_dir: Path = typer.Argument(..., help="Where spaCy writes the package folder (<name>-<version>/, with dist/)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Package name, <lang>_<name> (default: the packaged biLM's name)."),
    version: Optional[str] = typer.Option(None, "--version", "-v", help="Package version (default: spacy-elmo's)."),
    build: str = typer.Option("sdist", "--build", "-b", help="sdist, wheel, sdist,wheel or none (spacy package --build)."),
) -> None:
    """Build a spaCy pipeline package; `pip install` its dist/ file, then spacy.load(NAME) finds it.

    For a biLM the pipeline is a blank pipeline of the name's language with an "elmo" component
    (the biLM inside); a trained pipeline is packaged as it is. Every --model also takes NAME once
    it is installed.
    """
    from ..application.pipeline_package import build_pipeline_package

    folder = build_pipeline_package(model, output_dir, name=name, version=version, build=build)
    built = sorted(str(p) for p in (folder / "dist").glob("*")) if (folder / "dist").is_dir() else []
    typer.echo(f"package in {folder}" + (f"; install with: pip install {built[0]}" if built else ""))
