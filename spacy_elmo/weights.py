"""Which weights? One answer for the component, every command, ``pretrain --init-from`` and bulk embedding.

:func:`resolve_weights` turns what a user names into a :class:`Weights` (what it is, which files),
checking that the files are there but reading no tensors; :meth:`Weights.load` reads the biLM.
What can be named, in the order it is tried:

1. nothing: the packaged default model (``spacy_elmo/models/en_elmo_small``);
2. an original ``options.json`` + ``.hdf5`` pair (AllenNLP / bilm-tf), given as two files;
3. the name of a packaged model, e.g. ``"en_elmo_small"`` (any folder of ``spacy_elmo/models``
   with an ``options.json``), when no file of that name exists;
4. a native model directory (``options.json`` + ``weights.safetensors``);
5. a pretraining run directory (its biLM is in ``model/``);
6. a saved spaCy pipeline (``config.cfg`` + ``meta.json``): the biLM of its one "elmo" component,
   ``<pipeline>/<component>/bilm``;
7. a directory with ``options.json`` and exactly one ``.hdf5`` (original files), or an ELMoForManyLangs
   model folder (``config.json``, ``char.dic``, ``word.dic``, ``token_embedder.pkl``, ``encoder.pkl``);
8. the name of a published model (``allennlp-en-original``, ``efml-de``; ``python -m spacy_elmo models``),
   when no file of that name exists: its native copy in the user cache (:mod:`spacy_elmo.published`),
   downloaded, verified and converted on first use;
9. the name of an installed spaCy pipeline package (``pip install``-ed, as ``spacy.load(name)``
   finds it) with an "elmo" component: its biLM, as for a saved pipeline.

The packaged biLMs' names (``en_elmo_small``) are also the names of the spaCy pipeline packages
that ``python -m spacy_elmo package NAME`` builds from them, so once such a package is installed,
``spacy.load("en_elmo_small")`` and ``--model en_elmo_small`` give the same biLM.

Nothing here imports spaCy or thinc: a saved pipeline is recognised by its files and its
``config.cfg`` is read as plain INI, so ``pretrain --init-from PIPELINE`` works without spaCy.
"""
from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, TypedDict, Union

from .errors import ElmoError
from .layout import PIPELINE_BILM_DIR, PIPELINE_CONFIG_NAME, PIPELINE_META_NAME, RUN_MODEL_DIR

PathLike = Union[str, Path]

KINDS = ("packaged", "native", "run", "spacy", "original", "published", "elmoformanylangs")


class Names(NamedTuple):
    """How the three inputs are called where the user typed them, for error messages."""

    weights: str
    options_file: str
    weight_file: str


COMPONENT_NAMES = Names("weights", "options_file", "weight_file")
CLI_NAMES = Names("--model", "--options", "--weights")
INIT_NAMES = Names("--init-from", "--init-from", "--init-weights")


class Manifest(TypedDict):
    """What :meth:`Weights.manifest` gives: the kind, the paths named, every file's size in bytes."""

    kind: str
    paths: List[str]
    files: Dict[str, int]


@dataclass(frozen=True)
class Weights:
    """A resolved choice of weights. ``bilm_dir`` is the native model to read, or ``options_file`` +
    ``weight_file`` the original pair; ``pipeline_dir`` / ``component`` are set for a spaCy pipeline."""

    kind: str
    given: str
    bilm_dir: Optional[Path] = None
    options_file: Optional[Path] = None
    weight_file: Optional[Path] = None
    pipeline_dir: Optional[Path] = None
    component: Optional[str] = None
    name: Optional[str] = None  # the packaged model's name, or the installed pipeline package's

    def read_options(self):
        """The architecture (``BiLMOptions``), read without the weights (any kind, ELMoForManyLangs folders too)."""
        from .bilm.loading import read_options

        path = self.bilm_dir if self.bilm_dir is not None else self.options_file
        assert path is not None  # every kind has one of the two
        return read_options(path)

    def options_path(self) -> Path:
        """The options file (the architecture), readable without the weights."""
        from .layout import OPTIONS_NAME

        return self.bilm_dir / OPTIONS_NAME if self.bilm_dir is not None else self.options_file  # type: ignore[return-value]

    def load(self):
        """The biLM (eval mode, CPU, float32)."""
        from .bilm.loading import load_bilm

        if self.bilm_dir is not None:
            return load_bilm(self.bilm_dir)
        return load_bilm(self.options_file, self.weight_file)

    @property
    def folder(self) -> Path:
        """The directory the user named (the pipeline, the run, the model; the options file's folder)."""
        if self.pipeline_dir is not None:
            return self.pipeline_dir
        if self.kind == "run":
            return self.bilm_dir.parent  # type: ignore[union-attr]
        return self.bilm_dir if self.bilm_dir is not None else self.options_file.parent  # type: ignore[union-attr]

    @property
    def paths(self) -> List[Path]:
        """What the user named, resolved: one directory, or the options file and the weight file."""
        if self.kind == "original" and not Path(self.given).is_dir():
            return [self.options_file, self.weight_file]  # type: ignore[list-item]
        return [self.folder]

    def describe(self) -> str:
        if self.kind == "elmoformanylangs":
            return f"the ELMoForManyLangs model {self.bilm_dir}"
        if self.kind == "packaged":
            return f"the packaged model {self.name} ({self.bilm_dir})"
        if self.kind == "published":
            return f"the published model {self.name} (cached at {self.bilm_dir})"
        if self.kind == "spacy":
            package = f"installed package {self.name}: " if self.name else ""
            return f"the biLM of the spaCy pipeline {package}{self.pipeline_dir} (component {self.component!r})"
        if self.kind == "run":
            return f"the pretraining run {self.folder} ({self.bilm_dir})"
        if self.kind == "original":
            return f"{self.options_file} + {self.weight_file}"
        return str(self.bilm_dir)

    def manifest(self) -> "Manifest":
        """A JSON-able description: shown to the user and pinned by resumable runs (files and sizes)."""
        files: List[Path] = []
        for path in self.paths:
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
        return {
            "kind": self.kind,
            "paths": [str(p.resolve()) for p in self.paths],
            "files": {str(p.resolve()): p.stat().st_size for p in files if p.exists()},
        }


def resolve_weights(
    weights: Optional[PathLike] = None,
    options_file: Optional[PathLike] = None,
    weight_file: Optional[PathLike] = None,
    names: Names = COMPONENT_NAMES,
) -> Weights:
    """What ``weights`` (or ``options_file`` + ``weight_file``, or nothing) names; a clear error if nothing usable."""
    if (options_file is None) != (weight_file is None):
        missing = names.weight_file if weight_file is None else names.options_file
        raise ElmoError(
            f"Original ELMo weights need both {names.options_file} (options.json) and {names.weight_file} (.hdf5); "
            f"{missing} is missing."
        )
    if weights is not None and options_file is not None:
        raise ElmoError(
            f"Give either {names.weights} (a model directory) or {names.options_file} + {names.weight_file}, not both."
        )
    if options_file is not None:
        return _original_pair(Path(options_file), Path(weight_file), names)  # type: ignore[arg-type]
    if weights is None:
        return _packaged(None, names)
    text = str(weights)
    path = Path(text)
    if not path.exists():
        from . import models

        if models.is_packaged_name(text):
            return _packaged(text, names)
        if "/" not in text and "\\" not in text and _is_published(text):
            return _published(text)
        if "/" in text or "\\" in text:
            raise ElmoError(f"No ELMo model at {text!r} ({names.weights}): the path does not exist (no such directory or file).")
        installed = installed_pipeline_dir(text)
        if installed is not None:
            return _pipeline(installed, text, names, package=text)
        raise ElmoError(
            f"No ELMo model named {text!r} ({names.weights}): it is not a path that exists, not a packaged biLM "
            f"(packaged models: {', '.join(models.packaged_models()) or 'none'}; `python -m spacy_elmo info` lists them), "
            f"not a published model ({_close_published(text)}`python -m spacy_elmo models` lists them: "
            "allennlp-en-original, efml-de, ...; fetched on first use), and not an installed spaCy pipeline package "
            "(pip install it first; `python -m spacy_elmo package` builds one from a biLM or a trained pipeline)."
        )
    return _resolve_path(path, text, names)


def _packaged(name: Optional[str], names: Names) -> Weights:
    from . import models

    chosen = name or models.DEFAULT_MODEL_NAME
    try:
        folder = models.default_model_dir() if name is None else models.packaged_model_dir(name)
    except ElmoError as err:
        if name is not None and not models.is_packaged_name(name):
            raise
        raise ElmoError(
            f"{err} Name weights explicitly: a model directory (the 'elmo' component: "
            "config={'weights': '/path/to/model_dir'}; a training config: --paths.elmo /path/to/model_dir; "
            f"the command line: --model DIR), or original ELMo files ('options_file' + 'weight_file'; "
            f"--options + --weights). {names.weights} was {'not given' if name is None else repr(name)}."
        ) from err
    return Weights("packaged", chosen, bilm_dir=Path(folder), name=chosen)


def _is_published(name: str) -> bool:
    from .published import is_published_name

    return is_published_name(name)


def _close_published(name: str) -> str:
    """The "did you mean ...?" for a name close to a published one, else nothing."""
    from .published import load_registry
    from .published.registry import close_names

    close = close_names(name, load_registry())
    return f"did you mean {', '.join(close)}? " if close else ""


def _published(name: str) -> Weights:
    """A published model by name: its native copy in the cache, downloaded, verified and converted first if need be."""
    from .published import ensure_model

    return Weights("published", name, bilm_dir=ensure_model(name), name=name)


def resolve_init(path: PathLike, weight_file: Optional[PathLike] = None) -> Weights:
    """``pretrain --init-from PATH``: anything :func:`resolve_weights` takes, or with ``--init-weights``
    the original pair (``PATH`` is then its options.json)."""
    if weight_file is not None:
        return resolve_weights(None, path, weight_file, names=INIT_NAMES)
    return resolve_weights(path, names=INIT_NAMES)


def _original_pair(options: Path, weights: Path, names: Names) -> Weights:
    for label, path in ((names.options_file, options), (names.weight_file, weights)):
        if not path.is_file():
            raise ElmoError(f"{label} {path}: no such file.")
    return Weights("original", str(options), options_file=options, weight_file=weights)


def _resolve_path(path: Path, given: str, names: Names) -> Weights:
    from .bilm.io_elmoformanylangs import is_elmoformanylangs_dir
    from .bilm.io_native import is_native_dir
    from .bilm.loading import find_original_files

    if path.is_file():
        if path.suffix == ".json":
            raise ElmoError(f"{names.weights} {path} is an options file; give its .hdf5 weights with {names.weight_file}.")
        raise ElmoError(
            f"{names.weights} {path} is a file; give a model directory, or original files as "
            f"{names.options_file} options.json + {names.weight_file} weights.hdf5."
        )
    if is_native_dir(path):
        from . import models

        packaged = path.resolve().parent == models.MODELS_DIR.resolve()
        return Weights("packaged" if packaged else "native", given, bilm_dir=path, name=path.name if packaged else None)
    if is_native_dir(path / RUN_MODEL_DIR):
        return Weights("run", given, bilm_dir=path / RUN_MODEL_DIR)
    if is_spacy_pipeline_dir(path):
        return _pipeline(path, given, names)
    if is_elmoformanylangs_dir(path):
        return Weights("elmoformanylangs", given, bilm_dir=path)
    pair = find_original_files(path)
    if pair is not None:
        return Weights("original", given, options_file=pair[0], weight_file=pair[1])
    raise ElmoError(
        f"{names.weights} {path} holds neither a native model (options.json + weights.safetensors), nor a pretraining "
        f"run (model/), nor a saved spaCy pipeline with an 'elmo' component (config.cfg + meta.json), nor one original "
        f"options.json + .hdf5 pair, nor an ELMoForManyLangs model (config.json, char.dic, word.dic, token_embedder.pkl, "
        f"encoder.pkl)."
    )


def _pipeline(path: Path, given: str, names: Names, package: Optional[str] = None) -> Weights:
    from .bilm.io_native import is_native_dir

    component = elmo_component(path)
    bilm_dir = path / component / PIPELINE_BILM_DIR
    if not is_native_dir(bilm_dir):
        raise ElmoError(f"{path} is a spaCy pipeline whose 'elmo' component {component!r} has no saved biLM ({bilm_dir} is missing).")
    return Weights("spacy", given, bilm_dir=bilm_dir, pipeline_dir=path, component=component, name=package)


# -- saved spaCy pipelines, recognised without spaCy ------------------------------------------------
def installed_pipeline_dir(name: str) -> Optional[Path]:
    """The data directory of the installed spaCy pipeline package ``name``, or None if there is none.

    A package made by ``spacy package`` is a Python package ``name`` whose folder holds the pipeline
    in one subfolder (``<lang>_<name>-<version>/``, with ``config.cfg`` and ``meta.json``). Found
    with ``importlib`` without importing it (so without spaCy).
    """
    import importlib.util

    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location)
        found = sorted(d for d in folder.iterdir() if is_spacy_pipeline_dir(d)) if folder.is_dir() else []
        if len(found) == 1:
            return found[0]
        if is_spacy_pipeline_dir(folder):
            return folder
    return None


def is_spacy_pipeline_dir(path: PathLike) -> bool:
    """A directory written by ``nlp.to_disk``: it has ``config.cfg`` and ``meta.json``."""
    path = Path(path)
    return path.is_dir() and (path / PIPELINE_CONFIG_NAME).is_file() and (path / PIPELINE_META_NAME).is_file()


def pipeline_components(path: PathLike) -> Dict[str, Optional[str]]:
    """Component name -> factory of a saved pipeline, in pipeline order, from its ``config.cfg``.

    Read as plain INI (as spaCy writes it), so no spaCy is needed; a value is JSON where it parses.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    config_path = Path(path) / PIPELINE_CONFIG_NAME
    try:
        parser.read(config_path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as err:
        raise ElmoError(f"{config_path} cannot be read as a spaCy config: {err}") from err
    order = _json(parser.get("nlp", "pipeline", fallback="[]"))
    factories = {}
    for section in parser.sections():
        prefix, _, name = section.partition(".")
        if prefix == "components" and name and "." not in name:
            factory = parser.get(section, "factory", fallback=None)
            factories[name] = _json(factory) if factory is not None else None
    ordered = [n for n in (order if isinstance(order, list) else []) if n in factories]
    return {name: factories[name] for name in ordered + [n for n in factories if n not in ordered]}


def elmo_component(path: PathLike) -> str:
    """The name of the one "elmo" component of a saved pipeline; a clear error for none or several."""
    components = pipeline_components(path)
    found = [name for name, factory in components.items() if factory == "elmo"]
    if not found:
        raise ElmoError(
            f"{path} is a spaCy pipeline without an 'elmo' component (its components: {', '.join(components) or 'none'})."
        )
    if len(found) > 1:
        raise ElmoError(f"{path} has several 'elmo' components ({', '.join(found)}); name one biLM: {path}/<name>/{PIPELINE_BILM_DIR}.")
    return found[0]


def _json(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value
