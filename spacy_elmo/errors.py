"""The package's error types, below every layer (a leaf: it imports nothing of the package).

Every error spacy-elmo raises on purpose is an :class:`ElmoError`, so the CLI prints it as one line
(``spacy_elmo.cli``) and callers can catch the package's errors apart from bugs. Each message names
the problem and the fix.
"""


class ElmoError(Exception):
    """Base class for every error spacy-elmo raises on purpose."""


class OptionsError(ElmoError, ValueError):
    """The options (architecture description) are missing, malformed or inconsistent."""


class WeightFileError(ElmoError, ValueError):
    """A weight file is missing, unreadable, or does not match the options."""


class CharacterError(ElmoError, ValueError):
    """A token cannot be turned into character ids (for example, an empty string)."""
