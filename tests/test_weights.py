"""Issue 14, items 2 and 13: one answer to "which weights?" for the component, every command,
``pretrain --init-from`` and bulk embedding; a wrong path fails when the component is created."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from spacy_elmo.errors import ElmoError
from spacy_elmo.weights import CLI_NAMES, INIT_NAMES, resolve_weights

SENTENCE = [["The", "river", "bank", "."]]


def vectors(bilm):
    return bilm.embed_sentences(SENTENCE)[0]


@pytest.fixture
def packaged(tiny_model, tmp_path, monkeypatch):
    """spacy_elmo/models with the default model and a second one, en_elmo_medium (both the tiny biLM)."""
    import spacy_elmo.models as models

    folder = tmp_path / "models"
    for name in ("en_elmo_small", "en_elmo_medium"):
        shutil.copytree(tiny_model, folder / name)
    (folder / "not_a_model").mkdir()
    monkeypatch.setattr(models, "MODELS_DIR", folder)
    return folder


@pytest.fixture
def pipeline_dir(tiny_model, tmp_path):
    """A saved spaCy pipeline whose ELMo component is called 'embedder'."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", name="embedder", config={"weights": str(tiny_model)})
    nlp.to_disk(tmp_path / "pipeline")
    return tmp_path / "pipeline"


@pytest.fixture
def original_dir(tiny_model, tmp_path):
    from spacy_elmo import load_bilm
    from spacy_elmo.bilm.io_original import save_original

    save_original(load_bilm(tiny_model), tmp_path / "original", weight_name="lm_weights.hdf5")
    return tmp_path / "original"


def test_every_kind_resolves_to_the_same_biLM(tiny_model, packaged, pipeline_dir, original_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    expected = vectors(resolve_weights(tiny_model).load())
    cases = {
        "packaged": resolve_weights("en_elmo_medium"),
        "native": resolve_weights(tiny_model),
        "run": resolve_weights(run),
        "spacy": resolve_weights(pipeline_dir),
        "original": resolve_weights(original_dir),
    }
    cases["original pair"] = resolve_weights(None, original_dir / "options.json", original_dir / "lm_weights.hdf5")
    for label, chosen in cases.items():
        assert chosen.kind == label.split()[0], label
        numpy.testing.assert_allclose(vectors(chosen.load()), expected, atol=1e-6, err_msg=label)
    assert cases["spacy"].component == "embedder"
    assert cases["packaged"].name == "en_elmo_medium"
    assert resolve_weights(None).name == "en_elmo_small"  # nothing: the default packaged model
    assert cases["original pair"].paths == [original_dir / "options.json", original_dir / "lm_weights.hdf5"]


def test_packaged_models_are_found_by_folder_not_by_a_fixed_name(packaged):
    from spacy_elmo.models import packaged_models

    assert list(packaged_models()) == ["en_elmo_medium", "en_elmo_small"]  # not_a_model has no options.json
    with pytest.raises(ElmoError, match=r"en_elmo_large.*packaged models: en_elmo_medium, en_elmo_small"):
        resolve_weights("en_elmo_large")


def test_the_component_takes_a_packaged_model_by_name(packaged, tiny_model):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": "en_elmo_medium"})
    doc = nlp.make_doc("The river bank .")
    got = nlp.get_pipe("elmo")(doc)._.elmo_data.layers
    numpy.testing.assert_allclose(got, vectors(resolve_weights(tiny_model).load()), atol=1e-5)


def test_info_lists_the_packaged_models_and_takes_one_by_name(cli, packaged):
    result = cli("info", "en_elmo_medium")
    assert result.exit_code == 0, result.stderr
    assert "packaged as 'en_elmo_medium'" in result.stdout
    assert "packaged models" in result.stdout and "en_elmo_medium, en_elmo_small (default)" in result.stdout


def test_pretrain_init_from_takes_what_the_component_takes(packaged, pipeline_dir, original_dir, tiny_model):
    """--init-from used to know native dirs, run dirs and original files only."""
    from spacy_elmo.weights import resolve_init

    expected = vectors(resolve_weights(tiny_model).load())
    for given, weights in [(pipeline_dir, None), (Path("en_elmo_medium"), None), (original_dir, None),
                           (original_dir / "options.json", original_dir / "lm_weights.hdf5")]:
        numpy.testing.assert_allclose(vectors(resolve_init(given, weights).load()), expected, atol=1e-6, err_msg=str(given))
    with pytest.raises(ElmoError, match="--init-from .*options file.*--init-weights"):
        resolve_init(original_dir / "options.json", None)


def test_bulk_embedding_and_the_cli_take_a_spacy_pipeline_and_a_packaged_name(cli, packaged, pipeline_dir, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("The river bank .\nA bank .\n", encoding="utf-8")
    outputs = []
    for model in (pipeline_dir, "en_elmo_medium"):
        out = tmp_path / f"out-{len(outputs)}.npz"
        result = cli("embed", text, out, "--model", model)
        assert result.exit_code == 0, result.stderr
        with numpy.load(out) as data:
            outputs.append(data["vectors"])
    numpy.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.slow
def test_a_spacy_pipeline_is_recognised_without_spacy(pipeline_dir, tiny_model):
    """issue 13: pretrain --init-from PIPELINE where spaCy and thinc are not installed."""
    script = f"""
import sys
sys.modules["spacy"] = None
sys.modules["thinc"] = None
from spacy_elmo.weights import resolve_weights
chosen = resolve_weights({str(pipeline_dir)!r})
print(chosen.kind, chosen.component, chosen.load().options.n_output_layers)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["spacy", "embedder", "3"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "nothing-here", "does not exist"),
        (lambda d: Path("en_elmo_nope"), "not a packaged biLM .* and not an installed spaCy pipeline package"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "holds neither a native model"),
        (lambda d: (d / "o.json").write_text("{}") and d / "o.json", "is an options file; give its .hdf5 weights with --weights"),
    ],
)
def test_clear_errors_name_the_option_the_user_typed(tmp_path, make, message):
    with pytest.raises(ElmoError, match=message):
        resolve_weights(make(tmp_path), names=CLI_NAMES)


def test_pairs_and_ambiguities_are_refused(tmp_path, original_dir, pipeline_dir):
    with pytest.raises(ElmoError, match="--init-weights is missing"):
        resolve_weights(None, original_dir / "options.json", None, names=INIT_NAMES)
    with pytest.raises(ElmoError, match="not both"):
        resolve_weights(original_dir, original_dir / "options.json", original_dir / "lm_weights.hdf5")
    shutil.copy(original_dir / "lm_weights.hdf5", original_dir / "second.hdf5")
    with pytest.raises(ElmoError, match="2 .hdf5 files"):
        resolve_weights(original_dir)
    config = (pipeline_dir / "config.cfg").read_text()
    (pipeline_dir / "config.cfg").write_text(config.replace('factory = "elmo"', 'factory = "tok2vec"'))
    with pytest.raises(ElmoError, match="without an 'elmo' component"):
        resolve_weights(pipeline_dir)


def test_the_missing_default_model_error_is_written_once(monkeypatch):
    """It names every way to give weights, for the component, a training config and the CLI."""
    import spacy_elmo.models as models

    monkeypatch.setattr(models, "default_model_dir", lambda: (_ for _ in ()).throw(ElmoError("not shipped.")))
    with pytest.raises(ElmoError) as err:
        resolve_weights(None)
    for needed in ("not shipped.", "config={'weights'", "--paths.elmo", "--model", "'options_file' + 'weight_file'"):
        assert needed in str(err.value)
    source = "\n".join(p.read_text() for p in Path(models.__file__).parents[1].rglob("*.py"))
    assert source.count("Name weights explicitly") == 1


def test_manifest_pins_the_files(tiny_model, pipeline_dir):
    manifest = resolve_weights(tiny_model).manifest()
    assert manifest["kind"] == "native" and manifest["paths"] == [str(Path(tiny_model).resolve())]
    assert any(name.endswith("weights.safetensors") for name in manifest["files"])
    assert json.loads(json.dumps(manifest)) == manifest
    assert resolve_weights(pipeline_dir).manifest()["paths"] == [str(pipeline_dir.resolve())]


# -- item 13: the component checks its weights when it is created --------------------------------
def test_a_wrong_path_fails_at_add_pipe_with_one_clear_error(tmp_path):
    import spacy

    nlp = spacy.blank("en")
    with pytest.raises(ElmoError, match=r"No ELMo model at .*nothing-here.*\(weights\)"):
        nlp.add_pipe("elmo", config={"weights": str(tmp_path / "nothing-here")})
    with pytest.raises(ElmoError, match="options_file .*no such file"):
        nlp.add_pipe("elmo", config={"options_file": str(tmp_path), "weight_file": str(tmp_path / "w.hdf5")})
    assert "elmo" not in nlp.pipe_names


def test_loading_stays_lazy_and_a_saved_pipeline_never_needs_its_source(tiny_model, tmp_path, monkeypatch):
    import spacy

    import spacy_elmo.weights as weights

    source = tmp_path / "source"
    shutil.copytree(tiny_model, source)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(source)})
    assert not nlp.get_pipe("elmo").model.shim.is_loaded  # checked, not read
    expected = nlp("The river bank .")._.elmo_data.layers
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(source)

    def no_resolving(*args, **kwargs):  # spacy.load restores the biLM from the pipeline directory
        raise AssertionError("spacy.load must not look at the configured weights")

    monkeypatch.setattr(weights, "resolve_weights", no_resolving)
    import spacy_elmo.layers.bilm_shim as bilm_shim

    monkeypatch.setattr(bilm_shim, "resolve_weights", no_resolving)
    loaded = spacy.load(tmp_path / "pipeline")
    numpy.testing.assert_array_equal(loaded("The river bank .")._.elmo_data.layers, expected)
