import gzip
import json

import pytest
from typer.testing import CliRunner

from spacy_elmo.bilm import BiLM, load_bilm
from spacy_elmo.bilm.io_original import save_original
from spacy_elmo.cli import app

from tests.helpers import ROOT, tiny_options

from .corpus_helpers import write_corpus

runner = CliRunner()
TINY = str(ROOT / "configs" / "pretrain_tiny.cfg")


def pretrain(*args):
    return runner.invoke(app, ["pretrain", *map(str, args), "--config", TINY, "--no-progress"])


def test_pretrain_cli_on_a_gz_directory_then_resume_longer(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_corpus(corpus / "a.txt", 150, seed=0)
    with gzip.open(corpus / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(write_corpus(tmp_path / "b.txt", 150, seed=2).read_text(encoding="utf-8"))
    result = pretrain(corpus, tmp_path / "run", "--training.max_steps", "8", "--training.checkpoint_every_steps", "4", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "done: step 8" in result.output
    assert "2 file(s), 300 lines kept" in result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [m["step"] for m in log] == [4, 8]
    assert "seed = 7" in (tmp_path / "run" / "config.cfg").read_text()
    result = runner.invoke(app, ["pretrain", str(corpus), str(tmp_path / "run"), "--resume", "--training.max_steps", "12", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "resumed at step 8" in result.output and "done: step 12" in result.output
    result = pretrain(corpus, tmp_path / "run")
    assert result.exit_code == 1 and "already holds a run" in result.output


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "no tokens"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10, "binary"),
        (b"\xff\xfe\xfa not utf-8\n" * 50, "no tokens"),
    ],
    ids=["empty", "binary", "all-non-utf8"],
)
def test_pretrain_cli_bad_corpus_is_a_clear_error_before_training(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    result = pretrain(path, tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_pretrain_cli_counts_skipped_lines_and_trains(tmp_path):
    path = write_corpus(tmp_path / "corpus.txt", 300)
    with open(path, "ab") as f:
        f.write(b"bad \xe9 latin-1 line\n" + b"y" * (1 << 20) + b"\n")
    result = pretrain(path, tmp_path / "run", "--training.max_steps", "3", "--pretokenized")
    assert result.exit_code == 0, result.output
    assert "1 longer than 100000 characters" in result.output and "1 not valid UTF-8" in result.output
    assert "pretokenized = true" in (tmp_path / "run" / "config.cfg").read_text()


def test_pretrain_cli_init_from_original_weights(tmp_path):
    source = BiLM(tiny_options(lstm_dim=16, projection_dim=8))
    save_original(source, tmp_path / "orig")
    path = write_corpus(tmp_path / "corpus.txt", 300)
    result = pretrain(path, tmp_path / "run", "--init-from", tmp_path / "orig" / "options.json",
                      "--init-weights", tmp_path / "orig" / "weights.hdf5", "--training.max_steps", "3")
    assert result.exit_code == 0, result.output
    assert load_bilm(tmp_path / "run" / "model").options.lstm_dim == 16
    result = pretrain(path, tmp_path / "run2", "--init-from", tmp_path / "orig" / "options.json")
    assert result.exit_code == 1 and "--init-weights" in result.output


def test_pretrain_cli_rejects_unknown_config_keys(tmp_path):
    path = write_corpus(tmp_path / "corpus.txt", 50)
    result = pretrain(path, tmp_path / "run", "--training.max_stepz", "3")
    assert result.exit_code == 1 and "max_stepz" in result.output


def test_pretrain_eval_reproduces_the_checkpoint_dev_perplexity(tmp_path):
    path = write_corpus(tmp_path / "corpus.txt", 300)
    dev = write_corpus(tmp_path / "dev.txt", 30, seed=4)
    result = pretrain(path, tmp_path / "run", "--dev", dev, "--training.max_steps", "6")
    assert result.exit_code == 0, result.output
    logged = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    result = runner.invoke(app, ["pretrain-eval", str(tmp_path / "run"), str(dev), "-o", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "eval.json").read_text())
    assert figures["forward_ppl"] == pytest.approx(logged["dev_forward_ppl"], rel=1e-5)
    assert figures["backward_ppl"] == pytest.approx(logged["dev_backward_ppl"], rel=1e-5)
    assert figures["tokens"] == logged["dev_tokens"] > 0


def test_pretrain_cli_gpu_id_without_a_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    path = write_corpus(tmp_path / "corpus.txt", 50)
    result = pretrain(path, tmp_path / "run", "--gpu-id", "0")
    assert result.exit_code == 1 and "--gpu-id -1" in result.output
