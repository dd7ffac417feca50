"""The biLMs shipped inside the package: any subfolder here with an ``options.json`` is one.

``en_elmo_small`` (trained with ``python -m spacy_elmo pretrain``) is the default; another
folder (say ``en_elmo_medium``) becomes usable by name the moment it is added:
``nlp.add_pipe("elmo", config={"weights": "en_elmo_medium"})``, ``--model en_elmo_medium``.
Nothing here imports torch, spaCy or thinc.
"""
from pathlib import Path
from typing import Dict

from ..errors import ElmoError
from ..layout import OPTIONS_NAME, WEIGHTS_NAME

DEFAULT_MODEL_NAME = "en_elmo_small"
MODELS_DIR = Path(__file__).parent


def packaged_models() -> Dict[str, Path]:
    """Name -> folder of every packaged model (installed or not: see :func:`packaged_model_dir`)."""
    return {d.name: d for d in sorted(MODELS_DIR.iterdir()) if d.is_dir() and (d / OPTIONS_NAME).is_file()}


def is_packaged_name(name: str) -> bool:
    """``name`` is a bare folder name of this package's models (not a path)."""
    return bool(name) and "/" not in name and "\\" not in name and name in packaged_models()


def packaged_model_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    """Folder of the packaged model ``name``; the one clear error when it is unknown or its weights are missing."""
    models = packaged_models()
    path = models.get(name, MODELS_DIR / name)
    if name not in models and name != DEFAULT_MODEL_NAME:
        known = ", ".join(models) or "none"
        raise ElmoError(f"No packaged ELMo model named {name!r} (packaged models: {known}).")
    if not (path / WEIGHTS_NAME).is_file():
        # Only the fact: spacy_elmo.weights.resolve_weights, the one place that chooses weights, says what to do.
        raise ElmoError(f"The packaged ELMo model {name} is not installed ({path / WEIGHTS_NAME} is missing).")
    return path


def default_model_dir() -> Path:
    """Folder of the default packaged model (:data:`DEFAULT_MODEL_NAME`)."""
    return packaged_model_dir(DEFAULT_MODEL_NAME)
