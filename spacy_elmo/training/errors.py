"""The training layer's error: a run that cannot start or continue (its own module, so that every part of the
training layer can raise it without importing the trainer)."""
from ..errors import ElmoError


class TrainingError(ElmoError, RuntimeError):
    """The run cannot start or continue (bad output dir, missing checkpoint, bad [training] setting, ...)."""
