"""The component and a listener on the GPU (skipped without CUDA + cupy; run it wherever there is one)."""
import importlib.util

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import Adam, Config

from tests.pipeline.test_listener import DATA, NER_MODEL

needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("cupy") is None,
    reason="needs a CUDA GPU and cupy (pip install cupy-cuda12x) for spacy.require_gpu()",
)


@needs_gpu
def test_elmo_on_gpu_matches_cpu_and_trains(tiny_model, tmp_path):
    texts = [t for t, _, _ in DATA] + ["", "Hi", " ".join(["long"] * 300)]
    cpu = spacy.blank("en")
    cpu.add_pipe("elmo", config={"weights": str(tiny_model), "max_batch_tokens": 128, "window_size": 64})
    expected = [d._.elmo_data.layers for d in cpu.pipe(texts)]
    spacy.require_gpu()
    try:
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"weights": str(tiny_model), "max_batch_tokens": 128, "window_size": 64})
        docs = list(nlp.pipe(texts))
        assert nlp.get_pipe("elmo").bilm.device.type == "cuda"
        for doc, exp in zip(docs, expected):
            assert isinstance(doc._.elmo_data.layers, numpy.ndarray)  # stored on the CPU, serializable
            numpy.testing.assert_allclose(doc._.elmo_data.layers, exp, atol=1e-4)

        for frozen in (True, False):
            nlp = spacy.blank("en")
            nlp.add_pipe("elmo", config={"weights": str(tiny_model), "frozen": frozen})
            nlp.add_pipe("ner", config=Config().from_str(NER_MODEL))
            examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e, _ in DATA]
            nlp.initialize(lambda: examples)
            before = [p.detach().clone() for p in nlp.get_pipe("elmo").bilm.parameters()]
            sgd = Adam(0.01)
            history = []
            for _ in range(15):
                losses = {}
                nlp.update(examples, sgd=sgd, losses=losses)
                history.append(losses["ner"])
            assert numpy.mean(history[-3:]) < numpy.mean(history[:3])
            after = list(nlp.get_pipe("elmo").bilm.parameters())
            assert all(torch.equal(a, b) for a, b in zip(before, after)) == frozen
        nlp.to_disk(tmp_path / "pipeline")
        loaded = spacy.load(tmp_path / "pipeline")
        assert [[e.text for e in d.ents] for d in loaded.pipe(texts)] == [[e.text for e in d.ents] for d in nlp.pipe(texts)]
    finally:
        spacy.require_cpu()
