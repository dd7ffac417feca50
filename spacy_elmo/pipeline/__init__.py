"""The spaCy face of spacy-elmo: the "elmo" component, its data on docs, and the listener.

Importing this package registers the Doc/Span/Token extensions, the msgpack codec of
``ElmoData``, the factory, the architectures and the doc splitters (entry points do the same lazily).

Layout: ``pipe`` (the component), ``settings`` (its settings, declared once), ``bilm_shim`` (which
weights, loaded lazily, held by Thinc), ``bilm_model`` (the Thinc model), ``splitting`` (docs into
sequences: ``spacy-elmo.sentences.v1`` / ``spacy-elmo.windows.v1``), ``batching``, ``cache``,
``forking`` (torch threads in forked workers), ``data`` /
``extensions`` (what lands on docs), ``listener`` / ``architectures`` / ``downstream`` (training).
"""
from .data import ElmoData
from .extensions import install_extensions, set_vector_hooks, with_vector_hooks
from .architectures import BiLM_v1, ElmoListener_v1
from .downstream import ElmoTok2Vec_v1, TextCatPooledBOW_v1
from .listener import ElmoListener
from .pipe import ElmoComponent, make_elmo
from .settings import ElmoSettings
from .splitting import SentenceSplitter, WindowSplitter

__all__ = [
    "ElmoData", "ElmoComponent", "ElmoListener", "make_elmo", "BiLM_v1", "ElmoListener_v1",
    "install_extensions", "set_vector_hooks", "with_vector_hooks", "ElmoTok2Vec_v1", "TextCatPooledBOW_v1",
    "ElmoSettings", "SentenceSplitter", "WindowSplitter",
]
