"""The "elmo" spaCy component: its factory and pipe, its settings, the data it leaves on docs and
the extensions that read it. The Thinc layers it runs are :mod:`spacy_elmo.layers`.

Importing this package registers the Doc/Span/Token extensions, the msgpack codec of ``ElmoData``,
the factory, the architectures and the doc splitters (entry points do the same lazily).

Layout: ``pipe`` (the component and its factory), ``settings`` (its settings, declared once),
``data`` / ``extensions`` (what lands on docs, and the getters and vector hooks over it).
"""
import sys as _sys

from ..bilm.fast import threads as _threads
from ..layers import (
    BiLM_v1, ElmoListener, ElmoListener_v1, ElmoTok2Vec_v1, SentenceSplitter, TextCatPooledBOW_v1, WindowSplitter,
)
from .data import ElmoData, VectorHooksLostWarning
from .extensions import install_extensions, set_vector_hooks, with_vector_hooks
from .pipe import ElmoComponent, make_elmo
from .settings import ElmoSettings, IgnoredSettingWarning

# The old public path of the forked-worker setting (README): the same module object, under its old name.
forking = _sys.modules.setdefault(f"{__name__}.forking", _threads)

__all__ = [
    "ElmoData", "ElmoComponent", "ElmoListener", "make_elmo", "BiLM_v1", "ElmoListener_v1",
    "install_extensions", "set_vector_hooks", "with_vector_hooks", "ElmoTok2Vec_v1", "TextCatPooledBOW_v1",
    "ElmoSettings", "SentenceSplitter", "WindowSplitter", "VectorHooksLostWarning", "IgnoredSettingWarning",
]
