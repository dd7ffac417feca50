"""``similarity``, ``visualize`` and ``info``: right numbers, real PNGs, one-line errors."""
import builtins
import re

import numpy
import pytest
import spacy

from spacy_elmo.application.analysis import cosine_matrix
from tests.helpers import REFERENCE, TINY_TEXTCAT_LISTENER_CFG, needs_reference

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SENTENCES = ["The river bank was muddy.", "The bank raised rates.", "Money in the BANK, and a bank of fog."]


def table_values(stdout):
    rows = [line for line in stdout.splitlines() if re.match(r"^\s*\d+\s", line)]
    return numpy.array([[float(x) for x in re.findall(r"-?\d\.\d{3}", row)] for row in rows])


def test_similarity_table_matches_the_component(cli, tiny_model):
    result = cli("similarity", "bank", *SENTENCES, "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "[bank]" in result.stdout and "[BANK]" in result.stdout  # case-insensitive, shown as written
    got = table_values(result.stdout)
    assert got.shape == (4, 4)  # "bank" occurs twice in the third sentence: 4 occurrences

    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    vectors = []
    for doc in nlp.pipe(SENTENCES):
        vectors += [t._.elmo for t in doc if t.lower_ == "bank"]
    expected = cosine_matrix(numpy.stack(vectors))
    numpy.testing.assert_allclose(got, expected, atol=6e-4)  # the table prints 3 decimals
    assert not numpy.allclose(got, 1.0, atol=1e-3)  # context changes the vector


def test_similarity_layer_zero_is_context_free(cli, tiny_model):
    """Layer 0 is the char CNN: the same word form gets the same vector in every sentence."""
    result = cli("similarity", "bank", "The river bank.", "The bank raised rates.", "--model", tiny_model, "--layers", "0")
    numpy.testing.assert_allclose(table_values(result.stdout), numpy.ones((2, 2)), atol=1e-3)


def test_similarity_phrases_and_files(cli, tiny_model, tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("New York is big.\n\nI love new york .\n", encoding="utf-8")
    result = cli("similarity", "New York", "--file", path, "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "[New York]" in result.stdout and "[new york]" in result.stdout


def test_similarity_errors_are_one_line(cli, tiny_model):
    result = cli("similarity", "bank", "The river bank.", "Nothing here.", "--model", tiny_model)
    assert result.exit_code == 1
    assert "Skipped sentence 2" in result.stderr
    assert "needs at least two occurrences" in result.stderr and "Traceback" not in result.stderr
    result = cli("similarity", "bank", "The bank.", "A b\udcffank bank.", "--model", tiny_model)
    assert result.exit_code == 1 and "lone surrogate (U+DCFF)" in result.stderr
    result = cli("similarity", "bank", "The bank.", "A bank.", "--model", tiny_model, "--layers", "7")
    assert result.exit_code == 1 and "has 3 output layers" in result.stderr


@pytest.fixture
def senses_csv(tmp_path):
    path = tmp_path / "senses.csv"
    path.write_text(
        "sense,text\n"
        "river,The river bank was muddy.\n"
        "river,\"We sat on the bank, by the stream.\"\n"
        "money,The bank raised rates.\n"
        "money,She works at the bank.\n"
        "money,No such word in here.\n",
        encoding="utf-8",
    )
    return path


def test_visualize_word_writes_a_png(cli, tiny_model, senses_csv, tmp_path):
    out = tmp_path / "bank.png"
    result = cli("visualize", "word", "bank", senses_csv, "--label-column", "sense", "-o", out, "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert "4 occurrences" in result.stdout and "1 of 5 sentences" in result.stderr
    assert re.search(r"within a label: \d\.\d{3}; across labels: \d\.\d{3}", result.stdout)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert not list(tmp_path.glob("*.tmp"))


def test_visualize_word_errors(cli, tiny_model, senses_csv, tmp_path):
    result = cli("visualize", "word", "bank", senses_csv, "--label-column", "meaning", "--model", tiny_model, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "no column 'meaning'" in result.stderr and "sense, text" in result.stderr
    result = cli("visualize", "word", "bank", senses_csv, "--model", tiny_model, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 1 and "PNG" in result.stderr


def test_missing_matplotlib_says_how_to_install(cli, tiny_model, senses_csv, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = cli("visualize", "word", "bank", senses_csv, "--model", tiny_model, "-o", tmp_path / "x.png")
    assert result.exit_code == 1
    assert "pip install 'spacy-elmo[viz]'" in result.stderr


def textcat_pipeline(tiny_model):
    """elmo + a textcat on an ElmoListener, initialised (not trained), and its training examples."""
    from spacy.training import Example
    from thinc.api import Config

    textcat = Config().from_str(TINY_TEXTCAT_LISTENER_CFG)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model)})
    nlp.add_pipe("textcat", config=textcat)
    data = [("good film", "POS"), ("bad film", "NEG"), ("great acting", "POS"), ("awful plot", "NEG")]
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {"POS": float(c == "POS"), "NEG": float(c == "NEG")}}) for t, c in data]
    nlp.initialize(lambda: examples)
    return nlp, examples


def test_visualize_mix_of_an_untrained_pipeline_says_so(cli, tiny_model, tmp_path):
    """E.g. a model-best saved at the first evaluation, before any update: 0.333/0.333/0.333 is no result."""
    nlp, _ = textcat_pipeline(tiny_model)
    nlp.to_disk(tmp_path / "model-best")
    out = tmp_path / "mix.png"
    result = cli("visualize", "mix", tmp_path / "model-best", "-o", out)
    assert result.exit_code == 1 and "never updated (textcat)" in result.stderr and "model-last" in result.stderr
    assert "layer weights" not in result.stdout and not out.exists()


def test_visualize_mix_of_a_trained_pipeline(cli, tiny_model, tmp_path):
    from thinc.api import Adam

    nlp, examples = textcat_pipeline(tiny_model)
    sgd = Adam(0.05)
    for _ in range(10):
        nlp.update(examples, sgd=sgd)
    weights = nlp.get_pipe("elmo").listeners[0].mix_weights
    nlp.to_disk(tmp_path / "pipeline")

    out = tmp_path / "mix.png"
    result = cli("visualize", "mix", tmp_path / "pipeline", "-o", out)
    assert result.exit_code == 0, result.stderr
    printed = [float(x) for x in result.stdout.split("layer weights:")[1].split()[:3]]
    numpy.testing.assert_allclose(printed, weights, atol=1e-3)
    assert "untrained" not in result.stdout
    assert out.read_bytes().startswith(PNG_MAGIC)

    nlp_plain = spacy.blank("en")
    nlp_plain.add_pipe("elmo", config={"weights": str(tiny_model)})
    nlp_plain.to_disk(tmp_path / "plain")
    result = cli("visualize", "mix", tmp_path / "plain", "-o", out)
    assert result.exit_code == 1 and "no trained ElmoListener" in result.stderr

    # The same pipeline dir also serves as --model for every other command.
    result = cli("similarity", "film", "good film", "bad film", "--model", tmp_path / "pipeline")
    assert result.exit_code == 0, result.stderr
    result = cli("info", "--model", tmp_path / "pipeline")
    assert "spaCy pipeline" in result.stdout and "elmo, textcat" in result.stdout


def test_info_native_and_original(cli, tiny_model):
    result = cli("info", "--model", tiny_model)
    assert result.exit_code == 0
    assert "9,548" in result.stdout and "vector width:" in result.stdout and "16 (forward 8 + backward 8)" in result.stdout
    assert str(tiny_model) in result.stdout and "weights.safetensors" in result.stdout


@needs_reference
def test_info_original_weights(cli):
    folder = REFERENCE / "allennlp"
    for args in (["--options", folder / "options.json", "--weights", folder / "lm_weights.hdf5"],
                 [folder / "options.json", "--weights", folder / "lm_weights.hdf5"]):
        result = cli("info", *args)
        assert result.exit_code == 0, result.stderr
        assert "original AllenNLP" in result.stdout and "32 (forward 16 + backward 16)" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--options", "x.json"], "--weights is missing"),
        (["--model", "/no/such/dir"], "no such directory"),
    ],
)
def test_weights_arguments_errors(cli, args, message):
    result = cli("info", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- the numeric helpers behind the commands --------------------------------------------------
