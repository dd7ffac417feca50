"""``spacy_elmo.load_bilm``: the biLM by any name the component and every ``--model`` accept.

:func:`spacy_elmo.bilm.load_bilm` reads a *format* (a native directory, an original pair); this one
first asks :func:`spacy_elmo.weights.resolve_weights` what a name means (a packaged model such as
``"en_elmo_small"``, a published model such as ``"allennlp-en-small"``, a model directory, a pretraining
run, a saved or installed spaCy pipeline, an original pair, ...), so that Python takes the same names as
``spacy.load`` configs and the commands. The URLs of a published model's files (what AllenNLP code passes
to ``Elmo``) name that model: its files are fetched and checked by :mod:`spacy_elmo.published`.
No spaCy, no thinc.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlparse

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
    if _is_url(name) or _is_url(weight_file):
        name, weight_file = _published_name_of(name, weight_file), None
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


def _is_url(value: Optional[PathLike]) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _published_name_of(*urls: Optional[PathLike]) -> str:
    """The published model whose files the URLs are (AllenNLP's two S3 addresses count as one); an error that
    says what to do when they are not."""
    from .published import load_registry

    given = [str(u) for u in urls if u is not None]
    wanted = {_normal(u) for u in given}
    for name, entry in load_registry().items():
        if wanted <= {_normal(u) for u in entry.urls}:
            return name
    raise WeightFileError(
        f"{' + '.join(given)}: not the files of a published model (`python -m spacy_elmo models` lists them), and "
        "URLs are read only for those. Download the files and give their paths, or name the model."
    )


#: AllenNLP's bucket under the names its code and docs used over the years.
_ALLENNLP_HOSTS = {("allennlp.s3.amazonaws.com", ""), ("allennlp.s3-us-west-2.amazonaws.com", ""),
                   ("s3-us-west-2.amazonaws.com", "/allennlp"), ("s3.amazonaws.com", "/allennlp"),
                   ("s3.us-west-2.amazonaws.com", "/allennlp")}


def _normal(url: str) -> str:
    parts = urlparse(url)
    host, path = parts.netloc.lower(), parts.path
    for alias, prefix in _ALLENNLP_HOSTS:
        if host == alias and path.startswith(prefix + "/"):
            return "allennlp:" + path[len(prefix):]
    return host + path
