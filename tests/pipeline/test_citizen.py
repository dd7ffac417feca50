"""Issue 20, items 3 and 4: honest metadata (assigns, doc.tensor, spacy debug model) and quiet,
hard-to-misuse documented paths (no W109 from n_process, an eager with_vector_hooks, nlp.pipe's signature)."""
import inspect
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from spacy_elmo.pipeline.extensions import set_vector_hooks, with_vector_hooks
from tests.helpers import ROOT

TEXTS = ["The river bank was muddy .", "The bank raised its rates .", "We sat on the bank of the river ."]


def test_analyze_pipes_says_what_elmo_writes(tiny_nlp):
    summary = tiny_nlp().analyze_pipes(pretty=False)["summary"]["elmo"]
    assert {"doc._.elmo_data", "token._.elmo", "doc.tensor"} <= set(summary["assigns"])


def test_set_doc_tensor_writes_the_vectors_and_bytes_keep_them(tiny_nlp):
    nlp = tiny_nlp(set_doc_tensor=True, set_vector_hooks=False)
    doc = nlp(TEXTS[0])
    vectors = numpy.stack([t._.elmo for t in doc])
    numpy.testing.assert_array_equal(doc.tensor, vectors)
    numpy.testing.assert_array_equal(doc[2].vector, vectors[2])  # no static vectors, no hook: the tensor
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    numpy.testing.assert_array_equal(restored.tensor, vectors)
    assert tiny_nlp()(TEXTS[0]).tensor.size == 0  # off by default: doc.tensor stays spaCy's tok2vec's


@pytest.mark.slow
@pytest.mark.slow
def test_spacy_debug_model_follows_the_listener():
    result = subprocess.run([sys.executable, "-m", "spacy", "debug", "model", str(ROOT / "configs" / "ner_elmo.cfg"), "ner"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model looks good" in result.stdout


@pytest.mark.slow
@pytest.mark.slow
def test_two_processes_do_not_warn_w109(tiny_nlp, tmp_path):
    """In a fresh interpreter (pytest's own warning capture would hide the workers' warnings)."""
    tiny_nlp().to_disk(tmp_path / "pipeline")
    script = (
        "import spacy, sys\n"
        f"nlp = spacy.load({str(tmp_path / 'pipeline')!r})\n"
        f"docs = list(nlp.pipe({TEXTS!r}, n_process=2, batch_size=1))\n"
        "assert all('similarity' in d.user_token_hooks for d in docs)\n"
        "print('ok', len(docs))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok 3", result.stderr
    assert "W109" not in result.stderr, result.stderr


@pytest.mark.filterwarnings("ignore:.*W109")  # doc.to_bytes() itself: the hooks really are not saved
def test_with_vector_hooks_acts_at_once(tiny_nlp):
    nlp = tiny_nlp()
    restored = [Doc(nlp.vocab).from_bytes(d.to_bytes()) for d in nlp.pipe(TEXTS)]
    for doc in restored:
        doc.user_token_hooks.clear()
    result = with_vector_hooks(restored)  # not iterated: the hooks are set all the same
    assert isinstance(result, list) and result == restored
    assert all("similarity" in d.user_token_hooks for d in restored)
    with pytest.raises(ValueError, match="no doc._.elmo_data"):
        set_vector_hooks(nlp.make_doc("No ELMo here."))


def test_the_wrapped_pipe_has_language_pipes_signature(tiny_nlp):
    nlp = tiny_nlp()
    expected = list(inspect.signature(spacy.Language.pipe).parameters)[1:]
    assert list(inspect.signature(nlp.pipe).parameters) == expected
    assert nlp.pipe.__doc__ == spacy.Language.pipe.__doc__
    with pytest.raises(TypeError):
        next(nlp.pipe(TEXTS, no_such_option=True))
