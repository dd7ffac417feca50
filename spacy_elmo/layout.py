"""Every file and folder name the package writes or looks for, spelled once.

A leaf module (it imports nothing), so the biLM's savers, the trainer, the component, the weight
resolver and the commands agree on where things are without importing one another:

    model directory (native biLM)   options.json + weights.safetensors (+ output_layer.safetensors + vocab.txt
                                    after pretraining: the LM's softmax and its vocabulary)
    pretraining run                 config.cfg, vocab.txt, log.jsonl, cache/, checkpoints/last.pt, model/
    adapt run                       the same, and adapt.json (perplexity before and after)
    saved spaCy pipeline            config.cfg + meta.json; <component>/cfg and <component>/bilm/ (a model directory)
    bulk embedding (embed)          OUTPUT, and while it runs OUTPUT.partial/: manifest.json + part-NNNNNN.npz|.spacy
"""
from __future__ import annotations

# -- a native model directory (spacy_elmo.bilm.io_native) ---------------------------------------------
OPTIONS_NAME = "options.json"  # the architecture; also the name in a directory of original files
WEIGHTS_NAME = "weights.safetensors"
DICTIONARIES_NAME = "dictionaries.json"  # a dictionary vocabulary's characters and words (ELMoForManyLangs models)
VOCAB_NAME = "vocab.txt"  # the LM's vocabulary, written beside a pretrained biLM and in its run
OUTPUT_LAYER_NAME = "output_layer.safetensors"  # the LM's output layer (softmax), beside a pretrained biLM
ORIGINAL_WEIGHTS_NAME = "weights.hdf5"  # what ``export`` names the original-format weights by default

# -- a pretraining run (spacy_elmo.training.trainer) --------------------------------------------------
RUN_MODEL_DIR = "model"  # the run's biLM: OUTPUT_DIR/model is a model directory
RUN_CONFIG_NAME = "config.cfg"
RUN_LOG_NAME = "log.jsonl"
RUN_CACHE_DIR = "cache"  # the tokenised corpus
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "last.pt"
ADAPT_RECORD_NAME = "adapt.json"  # an adapt run's record: settings, perplexity before and after

# -- a saved spaCy pipeline (spacy_elmo.pipeline, spacy_elmo.weights) ---------------------------------
PIPELINE_CONFIG_NAME = "config.cfg"
PIPELINE_META_NAME = "meta.json"
COMPONENT_CFG_NAME = "cfg"  # the component's own settings file
PIPELINE_BILM_DIR = "bilm"  # <pipeline>/<component>/bilm: the component's biLM, a model directory

# -- the cache of published models (spacy_elmo.published), below the user cache ----------------------
PUBLISHED_CACHE_DIR = "models"  # cache_subdir("models"): NAME.lock and NAME/ per model
PUBLISHED_MANIFEST_NAME = "manifest.json"  # NAME/manifest.json, written last: NAME/native is whole
PUBLISHED_PINS_NAME = "pins.json"  # NAME/pins.json: the sha256 of each unpinned file as first downloaded
PUBLISHED_NATIVE_DIR = "native"  # NAME/native: the converted model directory
PUBLISHED_DOWNLOAD_DIR = "download"  # NAME/download: downloads (FILE.part while they arrive), hand-placed files
PUBLISHED_UNPACKED_DIR = "unpacked"  # NAME/unpacked: an archive's contents while it is converted
DOWNLOAD_PART_SUFFIX = ".part"  # FILE.part: a download that is not complete and verified yet
DOWNLOAD_VALIDATOR_SUFFIX = ".part.validator"  # FILE.part.validator: the server's ETag / Last-Modified of FILE.part

# -- a bulk embedding run (spacy_elmo.application.embedding_io) --------------------------------------
PARTIAL_SUFFIX = ".partial"  # OUTPUT.partial/: the run's finished chunks until OUTPUT is whole
PARTIAL_MANIFEST_NAME = "manifest.json"  # the run's settings and input, to resume only the same run
