"""Issue 20, item 2: pipelines by name. ``python -m spacy_elmo package`` makes a spaCy pipeline package
of a biLM or a trained pipeline, and every ``--model`` takes an installed pipeline package's name.

The real ``pip install`` + ``spacy.load(NAME)`` runs in ``scripts/check_dist.sh`` (CI); here the built
package folder is put on ``sys.path``, which is how Python finds an installed package too.
"""
import shutil
import sys

import numpy
import pytest
import spacy

from spacy_elmo.application.pipeline_package import build_pipeline_package
from spacy_elmo.errors import ElmoError
from spacy_elmo.weights import CLI_NAMES, installed_pipeline_dir, resolve_weights


@pytest.fixture
def installed(tiny_model, tmp_path, monkeypatch):
    """A pipeline package en_tiny_elmo built from the tiny biLM, importable as if installed."""
    folder = build_pipeline_package(str(tiny_model), tmp_path / "packages", name="en_tiny_elmo", version="0.0.1",
                                    build="none")
    # what the package's setup.py does when pip installs it (build="none" skips the sdist, ~30 s)
    shutil.copyfile(folder / "meta.json", folder / "en_tiny_elmo" / "meta.json")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] == "en_tiny_elmo"]:
        del sys.modules[name]


def test_a_built_package_loads_as_a_spacy_pipeline_with_the_same_vectors(installed, tiny_model):
    import en_tiny_elmo

    nlp = en_tiny_elmo.load()
    assert nlp.pipe_names == ["elmo"] and nlp.meta["name"] == "tiny_elmo"
    reference = spacy.blank("en")
    reference.add_pipe("elmo", config={"weights": str(tiny_model)})
    text = "The river bank was muddy."
    numpy.testing.assert_array_equal(nlp(text)._.elmo_data.layers, reference(text)._.elmo_data.layers)


def test_every_model_option_takes_an_installed_package_name(installed, cli):
    chosen = resolve_weights("en_tiny_elmo", names=CLI_NAMES)
    assert chosen.kind == "spacy" and chosen.name == "en_tiny_elmo"
    assert chosen.pipeline_dir == installed_pipeline_dir("en_tiny_elmo")
    assert "installed package en_tiny_elmo" in chosen.describe()
    result = cli("info", "--model", "en_tiny_elmo")
    assert result.exit_code == 0, result.stderr
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": "en_tiny_elmo"})
    assert nlp("A bank.")._.elmo_data.layers.shape[0] == 3


def test_a_name_that_is_nothing_gets_one_clear_error(cli):
    assert installed_pipeline_dir("en_no_such_pipeline") is None
    assert installed_pipeline_dir("json") is None  # a module, not a pipeline package
    result = cli("info", "--model", "en_no_such_pipeline")
    assert result.exit_code == 1
    for part in ("not a path that exists", "not a packaged biLM", "not an installed spaCy pipeline package"):
        assert part in result.stderr


@pytest.mark.parametrize("name, message", [("Bad-Name", "<lang>_<name>"), (None, "Give --name")])
def test_bad_package_names_are_refused(tiny_model, tmp_path, name, message):
    with pytest.raises(ElmoError, match=message):
        build_pipeline_package(str(tiny_model), tmp_path, name=name, build="none")
