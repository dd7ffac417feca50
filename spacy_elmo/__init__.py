"""spacy-elmo: ELMo contextual embeddings, exact to the original weights, as a spaCy v3 plugin."""
from .bilm import BiLM, BiLMOptions, ScalarMix, load_bilm
from .bilm.errors import CharacterError, ElmoError, OptionsError, WeightFileError

__version__ = "0.1.0"
__all__ = ["BiLM", "BiLMOptions", "ScalarMix", "load_bilm", "ElmoError", "OptionsError", "WeightFileError", "CharacterError"]
