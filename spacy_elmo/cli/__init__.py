"""``python -m spacy_elmo``: one typer app; each command lives in its own module, imported when used.

Nothing here imports a command module (see ``_app.COMMANDS``), so ``pretrain`` on a machine
with torch but no spaCy never touches the modules that need spaCy.
"""
from ._app import app

__all__ = ["app"]
