"""Train a biLM from raw text: corpus reading, vocabulary, batching, the LM loss and the trainer.

This package knows spaCy only as a tokenizer (so training tokens match what the
pipeline component sees); the model itself is the pure-PyTorch ``spacy_elmo.bilm``.
"""
from .corpus import CorpusError, CorpusStats, TokenizedCorpus, read_lines, tokenize_corpus
from .vocab import Vocabulary

__all__ = ["CorpusError", "CorpusStats", "TokenizedCorpus", "Vocabulary", "read_lines", "tokenize_corpus"]
