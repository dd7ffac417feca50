"""configs/ner_elmo.cfg and configs/textcat_elmo.cfg run under `spacy train` as they are."""
import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from spacy_elmo import ElmoError
from tests.helpers import ROOT

CONFIGS = ROOT / "configs"
DATA = [
    ("Alice lives in Paris .", [(0, 5, "PER"), (15, 20, "LOC")], "POS"),
    ("Bob went to London today .", [(0, 3, "PER"), (12, 18, "LOC")], "NEG"),
    ("Paris is big .", [(0, 5, "LOC")], "POS"),
    ("I met Carol in Rome .", [(6, 11, "PER"), (15, 19, "LOC")], "NEG"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    nlp = spacy.blank("en")
    docbin = DocBin()
    for text, ents, cat in DATA:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(a, b, label=label) for a, b, label in ents]
        doc.cats = {"POS": float(cat == "POS"), "NEG": float(cat == "NEG")}
        docbin.add(doc)
    path = tmp_path_factory.mktemp("corpus") / "train.spacy"
    docbin.to_disk(path)
    return path


@pytest.mark.parametrize("name,component", [("ner_elmo.cfg", "ner"), ("textcat_elmo.cfg", "textcat")])
def test_config_trains_with_spacy_train(name, component, corpus, tiny_model, tmp_path):
    from spacy.cli.train import train

    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "paths.elmo": str(tiny_model),
        "training.max_steps": 6,
        "training.eval_frequency": 3,
    }
    train(CONFIGS / name, tmp_path, overrides=overrides, use_gpu=-1)
    nlp = spacy.load(tmp_path / "model-last")
    assert nlp.pipe_names == ["elmo", component]
    doc = nlp("Carol went to Paris .")
    assert doc._.elmo_data.layers.shape == (3, 5, 16)
    assert numpy.isfinite(doc[0]._.elmo).all()
    listener = nlp.get_pipe("elmo").listeners[0]
    # no projection: the biLM's own width (16 for the tiny model), then the baseline's CNN tok2vec (96)
    assert listener.upstream_name == "elmo" and listener.get_dim("nO") == 16 + 96
    assert listener.attrs["layer_norm"] is True


def test_config_without_weights_names_the_setting(monkeypatch):
    import spacy_elmo.models as models

    monkeypatch.setattr(models, "default_model_dir", lambda: (_ for _ in ()).throw(ElmoError("not shipped")))
    config = spacy.util.load_config(CONFIGS / "ner_elmo.cfg")
    with pytest.raises(ElmoError, match="paths.elmo"):
        spacy.util.load_model_from_config(config, auto_fill=True)


@pytest.mark.slow
def test_entry_points_work_without_importing_spacy_elmo(tiny_model, tmp_path):
    """A fresh process that only imports spaCy finds the factory and architectures, and reads DocBins."""
    import subprocess
    import sys

    script = f"""
import spacy, sys
from spacy.tokens import DocBin
assert "spacy_elmo" not in sys.modules
config = spacy.util.load_config({str(CONFIGS / "ner_elmo.cfg")!r}, overrides={{"paths.elmo": {str(tiny_model)!r}}})
nlp = spacy.util.load_model_from_config(config, auto_fill=True)
doc = nlp.get_pipe("elmo")(nlp.make_doc("Entry points work ."))
DocBin(store_user_data=True, docs=[doc]).to_disk({str(tmp_path / "docs.spacy")!r})
print(doc._.elmo_data.layers.shape, doc[0]._.elmo.shape)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(3, 4, 16) (16,)" in out.stdout
    docs = list(DocBin().from_disk(tmp_path / "docs.spacy").get_docs(spacy.blank("en").vocab))
    assert docs[0]._.elmo_data.layers.shape == (3, 4, 16)
