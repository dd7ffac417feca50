"""``spacy_elmo.load_bilm``: the biLM by any name the component and every ``--model`` accept.

:func:`spacy_elmo.bilm.load_bilm` reads a *format* (a native directory, an original pair); this one
first asks :func:`spacy_elmo.weights.resolve_weights` what a name means (a packaged model such as
``"en_elmo_small"``, a model directory, a pretraining run, a saved or installed spaCy pipeline, an
original pair, ...), so that Python takes the same names as ``spacy.load`` configs and the commands.
No spaCy, no thinc.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .bilm.model import BiLM
from .errors import ElmoError, WeightFileError
from .weights import Names, resolve_weights

PathLike = Union[str, Path]

#: How the arguments are called in error messages.
PYTHON_NAMES = Names("load_bilm(name)", "options_file", "weight_file")


def load_bilm(name: Optional[PathLike] = None, weight_file: Optional[PathLike] = None, *, precision: str = "fp32") -> BiLM:
    """The biLM that ``name`` names, in eval mode, on the CPU, in float32.

    ``load_bilm()`` is the packaged default model; ``load_bilm("en_elmo_medium")``, ``load_bilm(model_dir)``,
    ``load_bilm(pipeline_dir)``, ... anything ``nlp.add_pipe("elmo", config={"weights": ...})`` takes;
    ``load_bilm("options.json", "weights.hdf5")`` the original pair. ``precision``: the CPU inference
    precision (:attr:`BiLM.precision`: ``"fp32"``, ``"bf16"`` or ``"auto"``).
    """
    try:
        if weight_file is not None:
            if name is None:
                raise WeightFileError("load_bilm(options_file, weight_file) got a weight file but no options file.")
            chosen = resolve_weights(None, name, weight_file, names=PYTHON_NAMES)
        else:
            chosen = resolve_weights(name, names=PYTHON_NAMES)
    except ElmoError as err:
        if type(err) is ElmoError:  # nothing usable at that name: a WeightFileError, as the format loader says it
            raise WeightFileError(str(err)) from None
        raise
    bilm = chosen.load()
    bilm.precision = precision
    return bilm
