"""``python -m spacy_elmo``: one typer app; each command lives in its own module."""
from ._app import app

# Importing a command module registers its command on ``app``.
from . import info  # noqa: F401,E402
from . import export, pretrain  # noqa: F401,E402
from . import embed, similarity, visualize  # noqa: F401,E402

__all__ = ["app"]
