"""The package's error types, below every layer (a leaf: it imports nothing of the package).

Every error spacy-elmo raises on purpose is an :class:`ElmoError`, so the CLI prints it as one line
(``spacy_elmo.cli``) and callers can catch the package's errors apart from bugs. Each message names
the problem and the fix.
"""
import sys

#: Packages whose frames a warning skips to name the user's line (spaCy reaches this package through them).
LIBRARIES = frozenset({"spacy_elmo", "spacy", "thinc", "srsly", "confection", "catalogue", "pydantic", "dataclasses", "weasel"})


class ElmoError(Exception):
    """Base class for every error spacy-elmo raises on purpose."""


class OptionsError(ElmoError, ValueError):
    """The options (architecture description) are missing, malformed or inconsistent."""


class WeightFileError(ElmoError, ValueError):
    """A weight file is missing, unreadable, or does not match the options."""


class CharacterError(ElmoError, ValueError):
    """A token cannot be turned into character ids (for example, an empty string)."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` (called in the function that warns) that names the first
    frame outside this package and the libraries it is reached through, e.g. the user's ``nlp.add_pipe``
    or ``DocBin.get_docs`` line rather than a line of spaCy or srsly."""
    frame, level = sys._getframe(1), 1  # the function that warns is stacklevel 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in LIBRARIES:
        frame, level = frame.f_back, level + 1
    return level
