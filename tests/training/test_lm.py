import numpy
import torch

from spacy_elmo.bilm import BiLM
from spacy_elmo.bilm.characters import add_sentence_boundaries, sentences_to_char_ids
from spacy_elmo.training.batching import BatchMaker
from spacy_elmo.training.corpus import Tokenizer, tokenize_corpus
from spacy_elmo.training.lm import BidirectionalLM
from spacy_elmo.training.vocab import Vocabulary

from tests.helpers import tiny_options

from .corpus_helpers import write_corpus


def test_lm_loss_is_next_and_previous_word_prediction(tmp_path):
    """The batched, deduplicated loss equals a word-by-word computation over ``bilm.run``."""
    corpus = tokenize_corpus(write_corpus(tmp_path / "c.txt", 20), Tokenizer(pretokenized=True))
    vocab = Vocabulary.from_counts(corpus.types, corpus.counts, size=25)
    torch.manual_seed(0)
    lm = BidirectionalLM(BiLM(tiny_options()), len(vocab), cutoffs=[10], div_value=2.0).eval()
    ids = numpy.array([1, 4, 2])
    out = lm(BatchMaker(corpus, vocab).make(ids))

    forward_nll = backward_nll = 0.0
    n = 0
    for i in ids:
        words = corpus.sentence(i)
        raw = lm.bilm.run(add_sentence_boundaries(sentences_to_char_ids([words])))
        top_f, top_b = raw.forward[-1][0], raw.backward[-1][0]
        targets = [vocab.bos] + [vocab.index.get(w, vocab.unk) for w in words] + [vocab.eos]
        for t in range(len(targets) - 1):
            logp_next = lm.output.adaptive.log_prob(top_f[t : t + 1])[0, targets[t + 1]]
            logp_prev = lm.output.adaptive.log_prob(top_b[t + 1 : t + 2])[0, targets[t]]
            forward_nll -= logp_next.item()
            backward_nll -= logp_prev.item()
            n += 1
    assert out.n_tokens == n
    assert abs(float(out.forward_nll) - forward_nll) < 1e-3
    assert abs(float(out.backward_nll) - backward_nll) < 1e-3
    assert abs(float(out.loss) - (forward_nll + backward_nll) / (2 * n)) < 1e-5


def test_output_layer_is_a_normalised_distribution():
    from spacy_elmo.training.lm import OutputLayer

    torch.manual_seed(0)
    hidden = torch.randn(3, 8)
    for layer in (OutputLayer(8, 40, [10, 20]), OutputLayer(8, 5, [100])):
        all_targets = torch.arange(layer.vocab_size)
        total = sum(layer.target_log_probs(hidden, all_targets[k].repeat(3)).exp() for k in range(layer.vocab_size))
        assert torch.allclose(total, torch.ones(3), atol=1e-5)
