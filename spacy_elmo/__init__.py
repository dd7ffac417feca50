"""spacy-elmo: ELMo contextual embeddings, exact to the original weights, as a spaCy v3 plugin."""
import os as _os
import sys as _sys

# Before torch is imported (the only time GNU OpenMP reads it): idle OpenMP threads sleep instead of
# spinning, which keeps inference fast when other work shares the cores. Set OMP_WAIT_POLICY yourself
# to choose otherwise; spacy_elmo.bilm.fast.threads says what happens when torch came first.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .allennlp_compat import Elmo, batch_to_ids
from .bilm import BiLM, BiLMOptions, ScalarMix
from .by_name import load_bilm
from .errors import CharacterError, ElmoError, OptionsError, WeightFileError

__version__ = "0.3.0"
__all__ = ["BiLM", "BiLMOptions", "ScalarMix", "load_bilm", "Elmo", "batch_to_ids", "ElmoError", "OptionsError", "WeightFileError", "CharacterError"]
