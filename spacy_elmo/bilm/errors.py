"""Errors the biLM raises; each message names the problem and the fix."""


class ElmoError(Exception):
    """Base class for every error spacy-elmo raises on purpose."""


class OptionsError(ElmoError, ValueError):
    """The options (architecture description) are missing, malformed or inconsistent."""


class WeightFileError(ElmoError, ValueError):
    """A weight file is missing, unreadable, or does not match the options."""


class CharacterError(ElmoError, ValueError):
    """A token cannot be turned into character ids (for example, an empty string)."""
