"""Smoke test of an installed spacy-elmo (run by scripts/check_dist.sh in a fresh venv with the wheel).

Usage: python smoke_test.py WORK_DIR. Uses only what the wheel ships (no checkout, no test data).
"""
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import spacy
from spacy.training import Example

import spacy_elmo

TRAIN = [
    ("Alice lives in Paris.", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob went to London today.", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("I met Carol in Rome.", [(6, 11, "PER"), (15, 19, "LOC")]),
]
NER_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
    "hidden_width": 16, "maxout_pieces": 2, "use_upper": True,
    "tok2vec": {"@architectures": "spacy-elmo.ElmoListener.v1", "width": 16, "upstream": "elmo"},
}


def run(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def install_and_load(package_dir: Path, name: str):
    run(sys.executable, "-m", "pip", "install", "-q", *map(str, (package_dir / "dist").glob("*.tar.gz")))
    return spacy.load(name)


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    assert spacy_elmo.__version__ == version("spacy-elmo"), (spacy_elmo.__version__, version("spacy-elmo"))
    assert "site-packages" in spacy_elmo.__file__, spacy_elmo.__file__
    assert (Path(spacy_elmo.__file__).parent / "py.typed").is_file()

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")  # the packaged default biLM, from inside the wheel
    doc = nlp("The river bank was muddy.")
    assert doc[2]._.elmo.shape == (256,), doc[2]._.elmo.shape
    medium = spacy.blank("en")
    medium.add_pipe("elmo", config={"weights": "en_elmo_medium"})
    assert medium("A bank.")[1]._.elmo.shape == (512,)

    # a tiny trained pipeline: elmo + an NER listening to it, then `spacy package` and spacy.load
    nlp.add_pipe("ner", config={"model": NER_MODEL})
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(work / "tiny_ner")
    expected = [(e.text, e.label_) for e in nlp(TRAIN[0][0]).ents]
    (work / "packages").mkdir()
    run(sys.executable, "-m", "spacy", "package", str(work / "tiny_ner"), str(work / "packages"),
        "--name", "tiny_ner", "--version", "0.0.1", "--force")
    loaded = install_and_load(work / "packages" / "en_tiny_ner-0.0.1", "en_tiny_ner")
    assert loaded.pipe_names == ["elmo", "ner"]
    assert [(e.text, e.label_) for e in loaded(TRAIN[0][0]).ents] == expected

    # a packaged biLM as a pipeline package: spacy.load("en_elmo_small") once installed
    run(sys.executable, "-m", "spacy_elmo", "package", "en_elmo_small", str(work / "packages"))
    small = install_and_load(work / "packages" / f"en_elmo_small-{spacy_elmo.__version__}", "en_elmo_small")
    assert small("The river bank was muddy.")[2]._.elmo.shape == (256,)
    print("smoke test passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
