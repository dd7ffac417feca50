"""The pure-PyTorch biLM: no spaCy in here."""
from .characters import sentences_to_char_ids, token_to_char_ids
from .errors import CharacterError, ElmoError, OptionsError, WeightFileError
from .io_native import load_native, save_native
from .io_original import load_original, save_original
from .loading import load_bilm
from .model import BiLM, BiLMOutput, RawBiLMOutput
from .options import BiLMOptions
from .scalar_mix import ScalarMix

__all__ = [
    "BiLM", "BiLMOutput", "RawBiLMOutput", "BiLMOptions", "ScalarMix", "load_bilm", "load_original",
    "save_original", "load_native", "save_native", "sentences_to_char_ids", "token_to_char_ids",
    "ElmoError", "OptionsError", "WeightFileError", "CharacterError",
]
