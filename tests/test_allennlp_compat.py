"""``from spacy_elmo import Elmo, batch_to_ids`` gives what AllenNLP 2.10.1's ``allennlp.modules.elmo`` gave
(``../shared/data/elmo-reference/allennlp-elmo-module``: three variants of the arguments, one batch of 14
sentences, a fresh module each, eval mode), carries state as bilm-tf did when asked to, and (where AllenNLP's ELMo
code is installed, the bench extra) carries state across changing batch sizes and back-propagates as AllenNLP does."""
import json
import re
import subprocess
import sys

import numpy
import pytest
import torch

from spacy_elmo import Elmo, batch_to_ids, load_bilm
from spacy_elmo.errors import CharacterError, ElmoError

from tests.helpers import REFERENCE, needs_shared

MODULE_REF = REFERENCE / "allennlp-elmo-module"
ALLENNLP = REFERENCE / "allennlp"
BILM_TF = REFERENCE / "bilm-tf" / "model"
ATOL = 1e-5
TOP_ONLY = [-9e10, -9e10, 1.0]  # AllenNLP's way of picking one layer: softmax gives exactly (0, 0, 1)

# This package's parameter names -> AllenNLP's, to compare which ones are trainable.
ALLENNLP_NAMES = [
    (r"^bilm\.char_cnn\.char_embedding\.weight$", "_elmo_lstm._token_embedder._char_embedding_weights"),
    (r"^bilm\.char_cnn\.convolutions\.(\d+)\.", r"_elmo_lstm._token_embedder.char_conv_\1."),
    (r"^bilm\.char_cnn\.highways\.(\d+)\.linear\.", r"_elmo_lstm._token_embedder._highways._layers.\1."),
    (r"^bilm\.char_cnn\.projection\.", "_elmo_lstm._token_embedder._projection."),
    (r"^bilm\.lstm\.(forward|backward)_layers\.(\d+)\.projection\.", r"_elmo_lstm._elmo_lstm.\1_layer_\2.state_projection."),
    (r"^bilm\.lstm\.(forward|backward)_layers\.(\d+)\.", r"_elmo_lstm._elmo_lstm.\1_layer_\2."),
]


def allennlp_name(name: str) -> str:
    for pattern, replacement in ALLENNLP_NAMES:
        new = re.sub(pattern, replacement, name)
        if new != name:
            return new
    return name


@pytest.fixture(scope="module")
def reference():
    data = numpy.load(MODULE_REF / "reference.npz")
    sentences = json.loads((MODULE_REF / "sentences.json").read_text(encoding="utf-8"))
    return data, sentences, json.loads(str(data["variants"]))


def reference_elmo(**kwargs) -> Elmo:
    return Elmo(ALLENNLP / "options.json", ALLENNLP / "lm_weights.hdf5", **kwargs)


@needs_shared(MODULE_REF, ALLENNLP)
def test_batch_to_ids_gives_allennlps_ids(reference):
    data, sentences, _ = reference
    ids = batch_to_ids(sentences)
    assert ids.dtype == torch.int64
    numpy.testing.assert_array_equal(ids.numpy(), data["ids"])


@needs_shared(MODULE_REF, ALLENNLP)
@pytest.mark.parametrize("variant", ["a", "b", "c"])
def test_each_variant_gives_allennlps_representations_masks_and_trainable_parameters(reference, variant):
    """a: two mixes; b: layer norm, sentence boundaries kept, fixed mix; c: requires_grad."""
    data, sentences, variants = reference
    meta = variants[variant]
    elmo = reference_elmo(**meta["kwargs"]).eval()
    with torch.no_grad():
        out = elmo(batch_to_ids(sentences))
    n = meta["kwargs"]["num_output_representations"]
    assert len(out["elmo_representations"]) == n
    for k, rep in enumerate(out["elmo_representations"]):
        want = data[f"{variant}_rep{k}"]
        assert rep.shape == want.shape
        numpy.testing.assert_allclose(rep.numpy(), want, atol=ATOL, rtol=0)
    assert out["mask"].dtype == torch.bool
    numpy.testing.assert_array_equal(out["mask"].numpy(), data[f"{variant}_mask"])
    trainable = sorted(allennlp_name(name) for name, p in elmo.named_parameters() if p.requires_grad)
    assert trainable == meta["trainable"]
    assert sum(p.numel() for p in elmo.parameters() if p.requires_grad) == meta["n_trainable_numbers"]


@needs_shared(MODULE_REF, ALLENNLP)
def test_gradients_reach_the_mixes_only_unless_requires_grad(reference):
    data, sentences, _ = reference
    ids = batch_to_ids(sentences)
    frozen = reference_elmo(num_output_representations=1, dropout=0.0).train()
    out = frozen(ids)["elmo_representations"][0]
    numpy.testing.assert_allclose(out.detach().numpy(), data["a_rep0"], atol=ATOL, rtol=0)  # training mode, same numbers
    out.sum().backward()
    assert all(p.grad is None for p in frozen.bilm.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in frozen.scalar_mix_0.parameters())

    tuned = reference_elmo(num_output_representations=1, dropout=0.0, requires_grad=True).train()
    out = tuned(ids)["elmo_representations"][0]
    numpy.testing.assert_allclose(out.detach().numpy(), data["c_rep0"], atol=ATOL, rtol=0)
    out.pow(2).sum().backward()
    grads = {name: p.grad for name, p in tuned.bilm.named_parameters()}
    assert all(g is not None for g in grads.values())
    assert grads["char_cnn.projection.weight"].abs().sum() > 0 and grads["lstm.forward_layers.0.input_linearity.weight"].abs().sum() > 0


@needs_shared(MODULE_REF, ALLENNLP)
def test_dropout_applies_to_each_representation_in_training_only(reference):
    _, sentences, _ = reference
    ids = batch_to_ids(sentences[:3])
    elmo = reference_elmo(num_output_representations=2, dropout=0.5)
    with torch.no_grad():
        clean = elmo.eval()(ids)["elmo_representations"]
        torch.manual_seed(1)
        dropped = elmo.train()(ids)["elmo_representations"]
    for a, b in zip(clean, dropped):
        kept = b != 0
        assert 0.3 < kept[a != 0].float().mean() < 0.7
        torch.testing.assert_close(b[kept], 2 * a[kept])  # inverted dropout: survivors scaled by 1 / (1 - p)


@needs_shared(MODULE_REF, ALLENNLP)
def test_more_leading_axes_are_flattened_and_restored(reference):
    _, sentences, _ = reference
    ids = batch_to_ids(sentences[:4])
    elmo = reference_elmo(num_output_representations=1, dropout=0.0).eval()
    with torch.no_grad():
        flat = elmo(ids)
        nested = elmo(ids.reshape(2, 2, *ids.shape[1:]))
    assert nested["mask"].shape == (2, 2, ids.shape[1])
    torch.testing.assert_close(nested["elmo_representations"][0].reshape(flat["elmo_representations"][0].shape), flat["elmo_representations"][0])


@needs_shared(BILM_TF)
@pytest.mark.parametrize("keep_sentence_boundaries", [False, True])
def test_stateful_on_request_reproduces_bilm_tf_batches(keep_sentence_boundaries):
    """bilm-tf's reference was made with the LSTM states carried from batch to batch (3 rows each)."""
    import h5py

    sentences = json.loads((BILM_TF / "lm_embeddings_sentences.json").read_text())
    expected = []
    for k in range(3):
        with h5py.File(BILM_TF / f"lm_embeddings_{k}.hdf5", "r") as h5:
            expected.append({int(key): h5[key][...] for key in h5})
    options, weights = BILM_TF / "options.json", BILM_TF / "lm_weights.hdf5"
    stateful = Elmo(options, weights, 1, dropout=0.0, scalar_mix_parameters=TOP_ONLY, stateful=True,
                    keep_sentence_boundaries=keep_sentence_boundaries).eval()
    stateless = Elmo(options, weights, 1, dropout=0.0, scalar_mix_parameters=TOP_ONLY).eval()
    shift = 1 if keep_sentence_boundaries else 0
    for i in range(len(sentences[0])):
        batch = [sentences[k][i].split() for k in range(3)]
        with torch.no_grad():
            top = stateful(batch_to_ids(batch))["elmo_representations"][0].numpy()
            fresh = stateless(batch_to_ids(batch))["elmo_representations"][0].numpy()
        dim = top.shape[-1] // 2
        for k in range(3):
            got = top[k, shift : shift + len(batch[k])]
            numpy.testing.assert_allclose(numpy.stack([got[:, :dim], got[:, dim:]]), expected[k][i], rtol=1e-5, atol=1e-6)
        if i == 1:  # without carried state the second batch differs: the default really is stateless
            assert not numpy.allclose(fresh[0, : len(batch[0]), :dim], expected[0][i][0], atol=1e-4)
    stateful.reset_states()
    assert stateful.bilm._states is None


def test_a_model_by_name_and_the_packaged_default():
    default = Elmo.from_pretrained(num_output_representations=1, dropout=0.0).eval()
    named = Elmo("en_elmo_small", None, 1, dropout=0.0).eval()
    ids = batch_to_ids([["The", "bank", "."], ["Hi"]])
    with torch.no_grad():
        a, b = default(ids), named(ids)
    torch.testing.assert_close(a["elmo_representations"][0], b["elmo_representations"][0])
    assert a["elmo_representations"][0].shape == (2, 3, default.get_output_dim())
    assert a["mask"].tolist() == [[True, True, True], [True, False, False]]
    assert not any(p.requires_grad for p in default.bilm.parameters())
    bilm = load_bilm()
    assert Elmo(None, None, 1, module=bilm).bilm is bilm
    bilm.requires_grad_(False)
    assert not any(p.requires_grad for p in Elmo(None, None, 1, module=bilm).bilm.parameters())  # left as it is
    assert all(p.requires_grad for p in Elmo(None, None, 1, module=bilm, requires_grad=True).bilm.parameters())
    with pytest.raises(ElmoError, match="either module or options_file"):
        Elmo("en_elmo_small", None, 1, module=bilm)
    with pytest.raises(ElmoError, match="one .*weight per layer"):
        Elmo(None, None, 1, scalar_mix_parameters=[1.0, 2.0])
    with pytest.raises(ElmoError, match="No ELMo model named 'no_such_elmo'"):
        Elmo("no_such_elmo", None, 1)
    with pytest.raises(ElmoError, match=r"integer character ids \[batch, tokens, 50\]"):
        default(torch.zeros(2, 3))
    with torch.no_grad():  # an empty sentence, an empty batch: empty outputs of the right shape, no error
        assert default(batch_to_ids([[]]))["elmo_representations"][0].shape == (1, 0, default.get_output_dim())
        assert default(batch_to_ids([]))["mask"].shape == (0, 0)


def test_batch_to_ids_edge_cases():
    ids = batch_to_ids([["<S>", "a"], []])
    assert ids.shape == (2, 2, 50) and not ids[1].any()
    assert ids[0, 0, :4].tolist() == [259, 257, 260, 261]  # "<S>" is the sentence-start marker, as in AllenNLP
    assert ids[0, 1, :4].tolist() == [259, 98, 260, 261]
    assert batch_to_ids([["x" * 70]])[0, 0, 49].item() == 260  # 48 bytes, then end-of-word
    assert batch_to_ids([["a\ud800b"]])[0, 0, :4].tolist() == [259, 98, 99, 260]  # a lone surrogate is dropped
    with pytest.raises(CharacterError, match="empty string"):
        batch_to_ids([["a", ""]])
    with pytest.raises(CharacterError, match="list of token lists"):
        batch_to_ids(["The bank ."])
    with pytest.raises(CharacterError, match="list of token lists"):
        batch_to_ids(s for s in ["The bank ."])


def test_batch_to_ids_takes_any_iterable_of_token_iterables_as_allennlps_did():
    """AllenNLP's batch_to_ids looped over the batch and each sentence: ``batch_to_ids(line.split() for line in f)`` ran."""
    want = batch_to_ids([["The", "bank", "."], ["Hi"]])
    assert torch.equal(batch_to_ids(s.split() for s in ["The bank .", "Hi"]), want)
    assert torch.equal(batch_to_ids([iter(["The", "bank", "."]), ("Hi",)]), want)


@pytest.mark.slow
def test_importing_it_imports_neither_spacy_nor_thinc():
    code = ("import sys; from spacy_elmo import Elmo, batch_to_ids, load_bilm; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('spacy', 'thinc')]; assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# -- against AllenNLP's own module, run here (simple-elmo-pytorch, the bench extra, is its ELMo code) ---------------
def allennlp_reference_module():
    pytest.importorskip("simple_elmo_pytorch", reason="AllenNLP's ELMo code comes with the bench extra: pip install -e '.[bench]'")
    from simple_elmo_pytorch.models.elmo import Elmo as AllenNLPElmo, batch_to_ids as allennlp_ids

    return AllenNLPElmo, allennlp_ids


@needs_shared(MODULE_REF, ALLENNLP)
def test_stateful_carries_state_per_row_as_allennlp_does_when_the_batch_grows_and_shrinks(reference):
    AllenNLPElmo, allennlp_ids = allennlp_reference_module()
    _, sentences, _ = reference
    theirs = AllenNLPElmo(str(ALLENNLP / "options.json"), str(ALLENNLP / "lm_weights.hdf5"), 1, dropout=0.0).eval()
    ours = reference_elmo(num_output_representations=1, dropout=0.0, stateful=True).eval()
    for batch in (sentences[0:3], sentences[3:8], sentences[8:10], sentences[10:14], sentences[0:1], sentences[5:11]):
        with torch.no_grad():
            want = theirs(allennlp_ids(batch))["elmo_representations"][0]
            got = ours(batch_to_ids(batch))["elmo_representations"][0]
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


@needs_shared(MODULE_REF, ALLENNLP)
def test_gradients_through_the_bilm_equal_allennlps(reference):
    """Every one of the 37 parameters' gradients, after the two layouts' known differences: LSTM gates in TF's
    order (i, j, f, o) here and (i, f, j, o) there; highway carry weights stored negated there."""
    AllenNLPElmo, allennlp_ids = allennlp_reference_module()
    _, sentences, _ = reference
    theirs = AllenNLPElmo(str(ALLENNLP / "options.json"), str(ALLENNLP / "lm_weights.hdf5"), 1, dropout=0.0, requires_grad=True).train()
    ours = reference_elmo(num_output_representations=1, dropout=0.0, requires_grad=True).train()
    want = theirs(allennlp_ids(sentences[:5]))["elmo_representations"][0]
    got = ours(batch_to_ids(sentences[:5]))["elmo_representations"][0]
    weights = torch.randn(want.shape, generator=torch.Generator().manual_seed(0))
    (want * weights).sum().backward()
    (got * weights).sum().backward()
    their_params = dict(theirs.named_parameters())

    def in_their_layout(name: str, grad: torch.Tensor) -> torch.Tensor:
        if ".lstm." in name and "linearity" in name:
            i, j, f, o = grad.chunk(4, dim=0)
            return torch.cat([i, f, j, o])
        if ".highways." in name:
            transform, carry = grad.chunk(2, dim=0)
            return torch.cat([transform, -carry])
        return grad

    compared = 0
    for name, p in ours.named_parameters():
        expected = their_params[allennlp_name(name)].grad
        scale = float(expected.abs().max())
        assert scale > 0, name
        torch.testing.assert_close(in_their_layout(name, p.grad), expected, atol=1e-4 * scale, rtol=0, msg=name)
        compared += 1
    assert compared == 37
