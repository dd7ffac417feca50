import json

import pytest
import torch

from spacy_elmo.bilm import BiLM, load_bilm
from spacy_elmo.training.trainer import Trainer, TrainingError, evaluate

from tests.helpers import tiny_options

from .corpus_helpers import tiny_config, write_corpus


def make_trainer(tmp_path, out="run", config=None, **kwargs):
    corpus = tmp_path / "train.txt"
    if not corpus.exists():
        write_corpus(corpus, 300, seed=0)
        write_corpus(tmp_path / "dev.txt", 30, seed=1)
    return Trainer(corpus, tmp_path / out, config or tiny_config(), dev_path=tmp_path / "dev.txt", progress=False,
                   log=lambda *a: None, **kwargs)


def test_tiny_run_lowers_loss_and_dev_perplexity(tmp_path):
    trainer = make_trainer(tmp_path, config=tiny_config(max_steps=60, checkpoint_every_steps=20))
    before = evaluate(trainer.lm, trainer.dev_maker)
    final = trainer.train()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [m["step"] for m in log] == [20, 40, 60]
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert final["dev_forward_ppl"] < 0.5 * before["forward_ppl"]
    assert final["dev_backward_ppl"] < 0.5 * before["backward_ppl"]
    assert log[-1]["dev_ppl"] < log[0]["dev_ppl"]
    # The run directory holds a loadable biLM and its vocabulary.
    bilm = load_bilm(tmp_path / "run" / "model")
    assert torch.equal(bilm.state_dict()["lstm.forward_layers.0.projection.weight"],
                       trainer.lm.bilm.state_dict()["lstm.forward_layers.0.projection.weight"])
    assert (tmp_path / "run" / "model" / "vocab.txt").read_text().startswith("<S>\n</S>\n<UNK>\n")


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.lm.state_dict().items()}


def test_resume_after_a_stop_equals_the_uninterrupted_run(tmp_path):
    config = dict(max_steps=30, checkpoint_every_steps=0, dropout=0.2, output_dropout=0.2)
    straight = make_trainer(tmp_path, "straight", tiny_config(**config))
    straight.train()

    stopped = make_trainer(tmp_path, "stopped", tiny_config(**config))
    stopped.train(on_step=lambda t: t.request_stop() if t.step == 13 else None)
    assert stopped.step == 13
    resumed = make_trainer(tmp_path, "stopped", config=None, resume=True)
    assert resumed.step == 13
    resumed.train()
    assert resumed.step == 30
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_can_extend_a_finished_run(tmp_path):
    make_trainer(tmp_path, "run", tiny_config(max_steps=10)).train()
    trainer = make_trainer(tmp_path, "run", None, resume=True, resume_overrides={"training.max_steps": 15})
    assert trainer.train()["step"] == 15
    with pytest.raises(TrainingError, match="only change \\[training\\]"):
        make_trainer(tmp_path, "run", None, resume=True, resume_overrides={"model.lstm_dim": 3})


def test_run_directory_is_never_overwritten_and_resume_needs_a_checkpoint(tmp_path):
    make_trainer(tmp_path, "run", tiny_config(max_steps=2)).train()
    with pytest.raises(TrainingError, match="--resume"):
        make_trainer(tmp_path, "run", tiny_config(max_steps=2))
    with pytest.raises(TrainingError, match="no checkpoint"):
        make_trainer(tmp_path, "other", None, resume=True)


def test_init_from_starts_from_the_given_biLM(tmp_path):
    torch.manual_seed(5)
    source = BiLM(tiny_options(lstm_dim=20, projection_dim=6))
    trainer = make_trainer(tmp_path, config=tiny_config(max_steps=5), init_from=source)
    assert trainer.config.model == source.options
    for key, value in source.state_dict().items():
        assert torch.equal(trainer.lm.bilm.state_dict()[key], value)
    trainer.train()
    assert load_bilm(tmp_path / "run" / "model").options == source.options
