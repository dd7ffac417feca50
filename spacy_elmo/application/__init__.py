"""The application layer: what the command line does, as a library.

It sits between :mod:`spacy_elmo.pipeline` (the "elmo" component) and :mod:`spacy_elmo.cli`
(which only parses arguments and prints), and imports nothing from the CLI:

- :mod:`.loading`: a spaCy pipeline (or the biLM alone) from ``--model`` / ``--options`` + ``--weights``;
- :mod:`.bulk`: embed a whole file in resumable chunks (``embed``);
- :mod:`.distributed`: the same chunks as tasks on a Dask cluster (``embed --scheduler/--cluster``, optional ``dask`` extra);
- :mod:`.embedding_io`: the chunked, resumable output files and reading them back;
- :mod:`.word_vectors`: a word's vectors across sentences (``similarity``, ``visualize word``);
- :mod:`.analysis`: cosine tables, 2-D PCA, finding a word's tokens;
- :mod:`.plots`: PNG pictures (the optional ``viz`` extra).
"""
from .bulk import EmbedSummary, embed_file
from .embedding_io import read_embeddings

__all__ = ["embed_file", "EmbedSummary", "read_embeddings"]
