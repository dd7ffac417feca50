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
TINY = str(ROOT / "configs" / "pretrain" / "tiny.cfg")


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


DEV_SENTENCES = ["the cat sees the ball .", "a dog likes London", "my neighbour calls her friend again .", "zebra"]


def perplexities_by_hand(run_dir, sentences):
    """Forward and backward perplexity of a run's latest checkpoint, one sentence at a time: the
    biLM's inference path (not the training forward), the output layer's full log-distribution
    (``log_prob``, not the per-target loss), and the LM targets written out here."""
    import math

    import torch

    from spacy_elmo.bilm.characters import add_sentence_boundaries
    from spacy_elmo.training.trainer import load_run

    lm, vocab, _ = load_run(run_dir)
    nll = {"forward": 0.0, "backward": 0.0}
    n = 0
    with torch.no_grad():
        for tokens in sentences:
            raw = lm.bilm.run(add_sentence_boundaries(lm.bilm.char_ids([tokens])))
            ids = [vocab.bos] + [vocab.index.get(t, vocab.unk) for t in tokens] + [vocab.eos]
            log_p = {"forward": lm.output.adaptive.log_prob(raw.forward[-1][0]),  # [len + 2, vocab]
                     "backward": lm.output.adaptive.log_prob(raw.backward[-1][0])}
            assert torch.allclose(log_p["forward"].exp().sum(-1), torch.tensor(1.0))
            for i in range(len(ids) - 1):  # position i predicts i + 1 going forward, i + 1 predicts i going back
                nll["forward"] -= float(log_p["forward"][i, ids[i + 1]])
                nll["backward"] -= float(log_p["backward"][i + 1, ids[i]])
            n += len(ids) - 1
    return math.exp(nll["forward"] / n), math.exp(nll["backward"] / n), n


def test_pretrain_eval_gives_the_perplexity_computed_by_hand(tmp_path):
    path = write_corpus(tmp_path / "corpus.txt", 300)
    dev = tmp_path / "dev.txt"
    dev.write_text("\n".join(DEV_SENTENCES) + "\n", encoding="utf-8")
    result = pretrain(path, tmp_path / "run", "--dev", dev, "--training.max_steps", "6", "--pretokenized",
                      "--training.adaptive_cutoffs", "[20]")  # the corpus has ~40 words: two clusters
    assert result.exit_code == 0, result.output
    logged = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    result = runner.invoke(app, ["pretrain-eval", str(tmp_path / "run"), str(dev), "-o", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "eval.json").read_text())
    forward, backward, n = perplexities_by_hand(tmp_path / "run", [s.split() for s in DEV_SENTENCES])
    assert figures["tokens"] == n == 7 + 5 + 8 + 2  # each sentence's tokens plus one boundary
    assert figures["forward_ppl"] == pytest.approx(forward, rel=1e-4)
    assert figures["backward_ppl"] == pytest.approx(backward, rel=1e-4)
    assert forward != pytest.approx(backward, rel=1e-3)  # the two directions really are told apart
    # the dev figures logged during training are the same evaluation
    assert logged["dev_forward_ppl"] == pytest.approx(forward, rel=1e-4) and logged["dev_tokens"] == n


def test_pretrain_cli_gpu_id_without_a_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    path = write_corpus(tmp_path / "corpus.txt", 50)
    result = pretrain(path, tmp_path / "run", "--gpu-id", "0")
    assert result.exit_code == 1 and "--gpu-id -1" in result.output
