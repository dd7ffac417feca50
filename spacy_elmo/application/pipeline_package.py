"""spaCy pipeline packages for a biLM or a trained pipeline: what ``spacy.load(NAME)`` finds once installed.

The packaged biLMs are called like spaCy pipeline packages (``en_elmo_small``), so this makes them
into one: a blank pipeline of the biLM's language with an "elmo" component, saved (the biLM goes
inside) and handed to ``spacy package``. Installed with pip, ``spacy.load("en_elmo_small")``
works, and every ``--model`` accepts the name (:func:`spacy_elmo.weights.installed_pipeline_dir`).
A trained pipeline (``training/model-best``) is packaged as it is, under the name given.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Optional, Union

from ..errors import ElmoError
from ..layout import PIPELINE_META_NAME
from ..weights import CLI_NAMES, Names, is_spacy_pipeline_dir, resolve_weights

PathLike = Union[str, Path]
PACKAGE_NAME = re.compile(r"^([a-z]{2,3}|xx)_[a-z0-9_]+$")


def split_package_name(name: str) -> tuple:
    """``"en_elmo_small"`` -> ``("en", "elmo_small")``: spaCy names a package ``<lang>_<name>``."""
    if not PACKAGE_NAME.match(name):
        raise ElmoError(
            f"{name!r} cannot name a spaCy pipeline package: spaCy calls them <lang>_<name> in lower case, "
            "e.g. en_elmo_small (give --name)."
        )
    lang, _, rest = name.partition("_")
    return lang, rest


def build_pipeline_dir(model: PathLike, output: PathLike, lang: str, name: str = "pipeline", version: str = "0.0.0",
                       names: Names = CLI_NAMES) -> Path:
    """``output``: a saved pipeline, blank ``lang`` + "elmo" with the biLM named by ``model`` inside."""
    import spacy

    chosen = resolve_weights(model, names=names)
    weights = chosen.name if chosen.kind in ("packaged", "published") else str(chosen.bilm_dir or chosen.folder)
    nlp = spacy.blank(lang)
    if chosen.kind == "original":
        nlp.add_pipe("elmo", config={"options_file": str(chosen.options_file), "weight_file": str(chosen.weight_file)})
    else:
        nlp.add_pipe("elmo", config={"weights": weights})
    nlp.get_pipe("elmo").bilm  # type: ignore[attr-defined]  # read the weights now: a bad file fails here
    nlp.meta.update({
        "name": name, "version": version,
        "description": f"ELMo contextual vectors (spacy-elmo) from {chosen.describe()}: token._.elmo, doc._.elmo_data.",
    })
    nlp.to_disk(output)
    return Path(output)


def build_pipeline_package(
    model: PathLike,
    output_dir: PathLike,
    *,
    name: Optional[str] = None,
    version: Optional[str] = None,
    build: str = "sdist",
) -> Path:
    """Run ``spacy package`` on ``model`` (a trained pipeline, or a biLM made into one); the package folder.

    ``name`` defaults to the packaged biLM's name (``en_elmo_small``); ``version`` to spacy-elmo's.
    ``build``: ``"sdist"``, ``"wheel"``, ``"sdist,wheel"`` or ``"none"`` (``spacy package --build``).
    """
    from spacy.cli.package import package

    from .. import __version__

    model_text = str(model)
    if name is None:
        if Path(model_text).exists():
            raise ElmoError(f"Give --name for {model_text}: spaCy calls pipeline packages <lang>_<name>, e.g. en_my_ner.")
        name = model_text
    lang, short = split_package_name(name)
    version = version or __version__
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spacy-elmo-package-") as tmp:
        if is_spacy_pipeline_dir(model_text):
            pipeline = Path(model_text)
            saved_lang = json.loads((pipeline / PIPELINE_META_NAME).read_text(encoding="utf-8")).get("lang")
            if saved_lang != lang:
                raise ElmoError(f"{pipeline} is a {saved_lang!r} pipeline, so its package name must start with "
                                f"{saved_lang}_, not {lang}_ (--name {saved_lang}_{short}).")
        else:
            pipeline = build_pipeline_dir(model_text, Path(tmp) / "pipeline", lang, short, version)
        package(pipeline, output_dir, name=short, version=version, create_sdist="sdist" in build,
                create_wheel="wheel" in build, force=True, silent=True)
    return output_dir / f"{lang}_{short}-{version}"
