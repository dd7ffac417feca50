"""The spaCy face of spacy-elmo: the "elmo" component, its data on docs, and the listener.

Importing this package registers the Doc/Span/Token extensions, the msgpack codec of
``ElmoData``, the factory and the architectures (entry points do the same lazily).
"""
from .data import ElmoData
from .extensions import install_extensions, set_vector_hooks, with_vector_hooks
from .architectures import BiLM_v1, ElmoListener_v1
from .downstream import ElmoTok2Vec_v1, TextCatPooledBOW_v1
from .listener import ElmoListener
from .pipe import ElmoComponent, make_elmo

__all__ = [
    "ElmoData", "ElmoComponent", "ElmoListener", "make_elmo", "BiLM_v1", "ElmoListener_v1",
    "install_extensions", "set_vector_hooks", "with_vector_hooks", "ElmoTok2Vec_v1", "TextCatPooledBOW_v1",
]
