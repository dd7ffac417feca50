"""``adapt``: perplexity on held-out task text falls, the model's own output layer and vocabulary are kept,
a model without one gets one fitted with the biLM frozen, and bad input is refused with the fix named."""
import json

import pytest
import torch

from spacy_elmo.bilm import load_bilm
from spacy_elmo.training.adapt import AdaptError, AdaptSettings, adapt
from spacy_elmo.training.corpus import CorpusError
from spacy_elmo.layout import OUTPUT_LAYER_NAME
from spacy_elmo.training.output_io import has_output_layer, load_output_layer
from spacy_elmo.training.trainer import Trainer

from tests.helpers import random_bilm

from .corpus_helpers import tiny_config, write_corpus

FAST = dict(batch_tokens=400, min_train_tokens=500, heldout_sentences=30)


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """A tiny biLM pretrained on one synthetic text: its run's model/ holds the output layer and vocabulary."""
    root = tmp_path_factory.mktemp("pretrained")
    write_corpus(root / "train.txt", 300, seed=0)
    write_corpus(root / "dev.txt", 30, seed=1)
    Trainer(root / "train.txt", root / "run", tiny_config(max_steps=40), dev_path=root / "dev.txt", progress=False,
            log=lambda *a: None).train()
    return root / "run" / "model"


def shifted_text(path, n_lines=200, seed=7):
    """Task text from the same little world with words the pretraining text never had."""
    write_corpus(path, n_lines, seed=seed)
    text = path.read_text(encoding="utf-8").replace("the river", "the tidal estuary").replace("London", "Valparaiso")
    path.write_text(text, encoding="utf-8")
    return path


def test_the_run_model_dir_carries_its_output_layer(pretrained_run):
    assert has_output_layer(pretrained_run)
    layer, vocab = load_output_layer(pretrained_run, load_bilm(pretrained_run).options.projection_dim)
    assert layer.vocab_size == len(vocab)
    assert vocab.words[:3] == ["<S>", "</S>", "<UNK>"]


def test_adapting_lowers_held_out_perplexity_and_keeps_the_vocabulary(pretrained_run, tmp_path):
    text = shifted_text(tmp_path / "task.txt")
    record = adapt(load_bilm(pretrained_run), text, tmp_path / "out", AdaptSettings(steps=40, learning_rate=3e-3, **FAST),
                   model_dir=pretrained_run, progress=False, log=lambda m: None)
    assert record["output_layer"] == "kept"
    assert record["after"]["ppl"] < 0.9 * record["before"]["ppl"]
    assert (tmp_path / "out" / "vocab.txt").read_text() == (pretrained_run / "vocab.txt").read_text()
    # The adapted model is a native model directory with its own output layer, and it moved.
    adapted = load_bilm(tmp_path / "out")
    base = load_bilm(pretrained_run)
    key = "lstm.forward_layers.1.projection.weight"
    assert not torch.equal(adapted.state_dict()[key], base.state_dict()[key])
    assert has_output_layer(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "adapt.json").read_text())
    assert saved["before"] == record["before"] and saved["after"] == record["after"]


def test_the_before_figure_is_the_base_model_as_it_was(pretrained_run, tmp_path):
    """steps=0 changes nothing: before == after, and the written biLM equals the base."""
    text = shifted_text(tmp_path / "task.txt")
    record = adapt(load_bilm(pretrained_run), text, tmp_path / "out", AdaptSettings(steps=0, **FAST),
                   model_dir=pretrained_run, progress=False, log=lambda m: None)
    assert record["before"] == record["after"]
    base, written = load_bilm(pretrained_run).state_dict(), load_bilm(tmp_path / "out").state_dict()
    assert all(torch.equal(base[k], written[k]) for k in base)


def test_a_model_without_output_layer_gets_one_fitted_with_the_biLM_frozen(tmp_path):
    write_corpus(tmp_path / "task.txt", 200, seed=3)
    fitted = {}
    for steps in (1, 60):
        bilm = random_bilm(scale=0.1)
        before = {k: v.clone() for k, v in bilm.state_dict().items()}
        record = adapt(bilm, tmp_path / "task.txt", tmp_path / f"out{steps}", AdaptSettings(steps=0, head_steps=steps,
                       head_learning_rate=0.1, **FAST), progress=False, log=lambda m: None)
        assert record["output_layer"] == "new"
        fitted[steps] = record["head_fit"]["heldout"]["ppl"]
        written = load_bilm(tmp_path / f"out{steps}").state_dict()
        assert all(torch.equal(before[k], written[k]) for k in before)  # frozen: the biLM did not move
        assert (tmp_path / f"out{steps}" / OUTPUT_LAYER_NAME).is_file()
    assert fitted[60] < 0.85 * fitted[1]  # random features: about the unigram perplexity


def test_empty_and_too_small_text_are_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no tokens"):
        adapt(random_bilm(), tmp_path / "empty.txt", tmp_path / "a", progress=False, log=lambda m: None)
    write_corpus(tmp_path / "small.txt", 40, seed=0)
    with pytest.raises(CorpusError, match="at least 5000"):
        adapt(random_bilm(), tmp_path / "small.txt", tmp_path / "b", progress=False, log=lambda m: None)
    write_corpus(tmp_path / "few.txt", 5, seed=0)
    with pytest.raises(CorpusError, match="Give more text"):
        adapt(random_bilm(), tmp_path / "few.txt", tmp_path / "c", progress=False, log=lambda m: None)


def test_an_existing_output_dir_and_bad_settings_are_refused(tmp_path):
    write_corpus(tmp_path / "task.txt", 200, seed=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(AdaptError, match="not empty"):
        adapt(random_bilm(), tmp_path / "task.txt", tmp_path / "out", AdaptSettings(**FAST), progress=False)
    with pytest.raises(AdaptError, match="head_steps"):
        adapt(random_bilm(), tmp_path / "task.txt", tmp_path / "new", AdaptSettings(head_steps=0, **FAST),
              progress=False, log=lambda m: None)
    with pytest.raises(AdaptError, match="learning rates"):
        adapt(random_bilm(), tmp_path / "task.txt", tmp_path / "new2", AdaptSettings(learning_rate=0, **FAST),
              progress=False)


def test_a_corrupt_output_layer_is_named(pretrained_run, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(pretrained_run, model)
    (model / OUTPUT_LAYER_NAME).write_bytes(b"not a safetensors file")
    from spacy_elmo.errors import WeightFileError

    with pytest.raises(WeightFileError, match="corrupt or truncated"):
        load_output_layer(model, load_bilm(model).options.projection_dim)
    with pytest.raises(WeightFileError, match="top layer is 3 wide"):
        load_output_layer(pretrained_run, 3)


def test_the_command_prints_both_perplexities_and_writes_a_model_every_command_reads(pretrained_run, tmp_path, cli):
    text = shifted_text(tmp_path / "task.txt", n_lines=800)
    result = cli("adapt", pretrained_run, text, tmp_path / "out", "--steps", "3", "--batch-tokens", "400", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "held-out perplexity forward" in result.output and "->" in result.output
    info = cli("info", "--model", tmp_path / "out")
    assert info.exit_code == 0, info.output
    refused = cli("adapt", pretrained_run, tmp_path / "nothing.txt", tmp_path / "out2")
    assert refused.exit_code == 1 and "not found" in refused.output
