"""CLI fixtures: a tiny random biLM on disk, and a runner that keeps stdout and stderr apart."""
import pytest
from typer.testing import CliRunner

from tests.helpers import tiny_options


def save_tiny_model(path, seed: int = 0, **overrides):
    import torch

    from spacy_elmo.bilm import BiLM

    torch.manual_seed(seed)
    bilm = BiLM(tiny_options(**overrides))
    with torch.no_grad():  # weights large enough that gates and clipping matter
        for p in bilm.parameters():
            p.uniform_(-0.5, 0.5)
    bilm.eval().save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A native model dir (options.json + weights.safetensors) of a tiny random biLM."""
    return save_tiny_model(tmp_path_factory.mktemp("cli_tiny") / "model")


@pytest.fixture
def cli():
    """``cli("embed", "in.txt", ...)`` -> click Result with ``.exit_code``, ``.stdout``, ``.stderr``."""
    from spacy_elmo.cli import app

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke
