"""The default English biLM shipped inside the package (trained with ``python -m spacy_elmo pretrain``)."""
from pathlib import Path

from ..bilm.errors import ElmoError

DEFAULT_MODEL_NAME = "en_elmo_small"


def default_model_dir() -> Path:
    """Directory of the packaged default model; a clear error while none is shipped."""
    path = Path(__file__).parent / DEFAULT_MODEL_NAME
    if not (path / "weights.safetensors").is_file():
        raise ElmoError(
            f"The default English ELMo model is not installed ({path} is missing). Give weights explicitly: "
            "nlp.add_pipe('elmo', config={'weights': '/path/to/model_dir'}) or "
            "config={'options_file': '.../options.json', 'weight_file': '.../weights.hdf5'}."
        )
    return path
