"""Opening someone else's run directory never runs code: checkpoints are read as tensors only."""
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.training.checkpoint_file import UnsafeCheckpointError, load_checkpoint_file
from spacy_elmo.training.trainer import CHECKPOINT_DIR, CHECKPOINT_NAME, load_run

from .corpus_helpers import write_corpus
from .test_trainer import make_trainer
from .corpus_helpers import tiny_config

runner = CliRunner()


class _Payload:
    """Unpickling this writes a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _poison(run_dir, marker):
    ckpt = run_dir / CHECKPOINT_DIR / CHECKPOINT_NAME
    state = torch.load(ckpt, weights_only=True)
    state["metrics"] = {"note": _Payload(marker)}
    torch.save(state, ckpt)
    return ckpt


def test_own_checkpoints_load_as_tensors_only_and_resume(tmp_path):
    trainer = make_trainer(tmp_path, config=tiny_config(max_steps=4))
    trainer.train()
    state = load_checkpoint_file(tmp_path / "run" / CHECKPOINT_DIR / CHECKPOINT_NAME)
    assert state["step"] == 4 and isinstance(state["optimizer"], dict)
    assert make_trainer(tmp_path, config=None, resume=True).step == 4


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    trainer = make_trainer(tmp_path, config=tiny_config(max_steps=2))
    trainer.train()
    marker = tmp_path / "pwned"
    ckpt = _poison(tmp_path / "run", marker)

    for attempt in (lambda: load_run(tmp_path / "run"), lambda: make_trainer(tmp_path, config=None, resume=True)):
        try:
            attempt()
        except UnsafeCheckpointError as err:
            assert str(ckpt) in str(err) and "could run code" in str(err)
        else:
            raise AssertionError("the poisoned checkpoint was loaded")
        assert not marker.exists()

    dev = write_corpus(tmp_path / "dev2.txt", 10, seed=3)
    result = runner.invoke(app, ["pretrain-eval", str(tmp_path / "run"), str(dev)])
    assert result.exit_code == 1 and "Refused to load" in result.output
    assert not marker.exists()
