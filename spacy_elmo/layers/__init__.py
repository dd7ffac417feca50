"""The Thinc layers: the biLM over docs, the listener that feeds it to a task, and the downstream
architectures; registered under their versioned names (``spacy-elmo.BiLM.v1``, ...).

Layout: ``bilm_model`` (the biLM as a Thinc model over docs), ``bilm_shim`` (which weights, loaded
lazily, held by Thinc), ``splitting`` (docs into sequences: ``spacy-elmo.sentences.v1`` /
``spacy-elmo.windows.v1``), ``batching``, ``cache``, ``listener`` (a task's own mix of the layers),
``architectures`` (the registered biLM and listener), ``downstream`` (ELMo before a task's encoder;
pooled ELMo beside a bag of words). The component that runs them is :mod:`spacy_elmo.pipeline`.
"""
from .architectures import BiLM_v1, ElmoListener_v1
from .bilm_model import ElmoBiLMModel
from .downstream import ElmoTok2Vec_v1, TextCatPooledBOW_v1
from .listener import ElmoListener
from .splitting import SentenceSplitter, WindowSplitter

__all__ = [
    "BiLM_v1", "ElmoListener_v1", "ElmoBiLMModel", "ElmoTok2Vec_v1", "TextCatPooledBOW_v1", "ElmoListener",
    "SentenceSplitter", "WindowSplitter",
]
