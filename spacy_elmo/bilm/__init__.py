"""The pure-PyTorch biLM: no spaCy in here.

The reference model (``characters``, ``char_cnn``, ``lstm``, ``scalar_mix``, ``options``; the exact
maths, with grad) and, in :mod:`.fast`, the routes that make inference and training fast, each
checked against the reference; ``model`` (the ``BiLM``) is the one place that picks a route.
The weight formats: ``io_native``, ``io_original``, ``io_elmoformanylangs``; ``loading`` makes a ``BiLM`` of
any. A model's character vocabulary (``characters``: the original byte one, or an ELMoForManyLangs
dictionary, ``dictionary_characters``) belongs to its ``BiLM`` (``bilm.vocabulary``).
"""
import sys as _sys

from ..errors import CharacterError, ElmoError, OptionsError, WeightFileError
from .characters import ByteVocabulary, CharacterVocabulary, sentences_to_char_ids, token_to_char_ids
from .dictionary_characters import DictionaryVocabulary
from .fast import onednn as _onednn
from .fast import threads as _threads
from .io_elmoformanylangs import is_elmoformanylangs_dir, load_elmoformanylangs
from .io_native import save_native
from .io_original import load_original, save_original
from .loading import load_bilm, load_native
from .model import BiLM, BiLMOutput, RawBiLMOutput
from .options import BiLMOptions
from .scalar_mix import ScalarMix

# Old public paths of two settings (README named them): the same module objects under their old names,
# so ``spacy_elmo.bilm.onednn.ENABLED = False`` still switches the real flag.
for _old, _module in (("onednn", _onednn), ("inference_threads", _threads)):
    _sys.modules.setdefault(f"{__name__}.{_old}", _module)

__all__ = [
    "BiLM", "BiLMOutput", "RawBiLMOutput", "BiLMOptions", "ScalarMix", "load_bilm", "load_original",
    "save_original", "load_native", "save_native", "sentences_to_char_ids", "token_to_char_ids",
    "ElmoError", "OptionsError", "WeightFileError", "CharacterError", "CharacterVocabulary", "ByteVocabulary",
    "DictionaryVocabulary", "load_elmoformanylangs", "is_elmoformanylangs_dir",
]
