"""The typer app. Commands load lazily, so ``pretrain`` never imports what ``embed`` needs (spaCy).

Each command module registers its command on ``app`` when imported; :class:`LazyGroup`
imports a module only when one of its commands is run or listed in ``--help``.
"""
import importlib
from typing import Dict, List

import typer
from typer.core import TyperGroup

from ._common import fail

# command name -> module of spacy_elmo.cli that defines it, in the order ``--help`` lists them
COMMANDS: Dict[str, str] = {
    "info": "info",
    "export": "export",
    "convert": "export",
    "pretrain": "pretrain",
    "pretrain-eval": "pretrain",
    "adapt": "adapt",
    "embed": "embed",
    "similarity": "similarity",
    "visualize": "visualize",
    "package": "package",
    "models": "models",
    "download": "models",
}
NEEDS_SPACY = (
    "This needs spaCy, which is not installed: pip install 'spacy>=3.7,<4'. "
    "Without it, pretrain --pretokenized, pretrain-eval (of such a run) and export still work."
)


class LazyGroup(TyperGroup):
    """A typer group that knows every command's name but imports a command's module on first use."""

    # (no click annotations: recent typer vendors click, so ``click`` itself may not be installed)
    def list_commands(self, ctx) -> List[str]:
        return list(dict.fromkeys([*COMMANDS, *super().list_commands(ctx)]))

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__package__}.{COMMANDS[cmd_name]}")
            built = typer.main.get_group(app).commands  # typer turns the new functions into click commands
            for name, command in built.items():
                self.commands.setdefault(name, command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as err:  # spaCy (or thinc) is missing: say what to install, in one line
            if (err.name or "").split(".")[0] not in ("spacy", "thinc"):
                raise
            raise fail(NEEDS_SPACY)


app = typer.Typer(
    name="spacy-elmo",
    cls=LazyGroup,
    help="ELMo contextual embeddings for spaCy: inspect, embed, train and convert biLMs.",
    no_args_is_help=True,
    add_completion=False,
)


def installed_versions() -> str:
    """``spacy-elmo X (torch Y, spaCy Z, Python W)``, from package metadata: imports nothing heavy,
    and names what a bug report needs."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return f"spacy-elmo {of('spacy-elmo')} (torch {of('torch')}, spaCy {of('spacy')}, Python {platform.python_version()})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(installed_versions())
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the versions of spacy-elmo, torch, spaCy and Python, and exit."),
) -> None:
    """ELMo contextual embeddings for spaCy."""
