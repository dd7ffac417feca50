"""The Thinc wrapper of the biLM: gradients through split docs reach the biLM exactly."""
import numpy
import spacy
import torch



def test_backprop_through_windows_matches_torch(tiny_model):
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "elmo",
        config={"weights": str(tiny_model), "frozen": False, "max_batch_tokens": 8, "window_size": 6, "window_overlap": 2},
    )
    model = nlp.get_pipe("elmo").model
    split = model.settings.split
    bilm = model.bilm
    docs = [nlp.make_doc("a b c d e f g h i j k l m"), nlp.make_doc("x y"), nlp.make_doc("")]
    outputs, backprop = model.begin_update(docs)
    rng = numpy.random.default_rng(0)
    d_outputs = [rng.normal(size=o.shape).astype("f") for o in outputs]
    bilm.zero_grad()
    backprop(d_outputs)
    ours = {n: p.grad.clone() for n, p in bilm.named_parameters()}

    # Reference: each segment alone through torch; only its kept slice carries the doc's gradient.
    bilm.zero_grad()
    for i, doc in enumerate(docs):
        for seg in split(doc, 8, i):
            tokens = [t.text for t in doc[seg.start : seg.end]]
            layers = bilm(bilm.char_ids([tokens])).layers[:, 0]
            keep = slice(seg.keep_start - seg.start, seg.keep_end - seg.start)
            grad = torch.from_numpy(d_outputs[i][:, seg.keep_start : seg.keep_end])
            (layers[:, keep] * grad).sum().backward()
    assert len(split(docs[0], 8)) > 1
    for name, p in bilm.named_parameters():
        torch.testing.assert_close(ours[name], p.grad, atol=1e-5, rtol=1e-4, msg=name)
