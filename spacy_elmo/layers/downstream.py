"""Registered architectures that join ELMo features with a downstream task's own model.

``ElmoListener.v1`` alone gives the scalar mix as a tok2vec (optionally beside a small tok2vec
of the task's own, concatenated *after* it). These two cover the other ways the features are
usually used: ELMo *before* the task's context encoder (as the paper fed its biLSTMs), and
pooled document vectors beside a bag-of-words classifier, a path that learns fast (spaCy's
ensemble reaches ELMo only through its slow attention branch).
"""
from __future__ import annotations

from typing import List, Optional

from spacy.attrs import ORTH
from spacy.ml.extract_ngrams import extract_ngrams
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (
    Dropout,
    Linear,
    Logistic,
    Maxout,
    Model,
    SparseLinear_v2,
    add,
    chain,
    concatenate,
    list2ragged,
    reduce_max,
    reduce_mean,
    softmax_activation,
    with_array,
    with_cpu,
)
from thinc.types import Floats2d


@registry.architectures("spacy-elmo.ElmoTok2Vec.v1")
def ElmoTok2Vec_v1(
    elmo: Model[List[Doc], List[Floats2d]],
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    width: int,
) -> Model[List[Doc], List[Floats2d]]:
    """A tok2vec in which ELMo joins *before* the context encoder:
    ``[embed(doc); elmo(doc)] -> Maxout(width) -> encode``.

    elmo: an ``ElmoListener`` (without a tok2vec of its own).
    embed: the task's token embedding, e.g. ``spacy.MultiHashEmbed.v2``.
    encode: the context encoder over the joined vectors, e.g. ``spacy.MaxoutWindowEncoder.v2``
      of the same ``width``.
    width: the width of the joined vectors after the Maxout (the encoder's input).
    """
    if width < 1:
        raise ValueError(f"ElmoTok2Vec width must be a positive int, got {width}.")
    join: Model = with_array(Maxout(width, nP=3, normalize=True))
    model: Model = chain(concatenate(embed, elmo), join, encode)
    model.set_ref("elmo", elmo)
    if encode.has_dim("nO"):
        model.set_dim("nO", encode.get_dim("nO"))
    return model


@registry.architectures("spacy-elmo.TextCatPooledBOW.v1")
def TextCatPooledBOW_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    exclusive_classes: bool,
    ngram_size: int = 1,
    length: int = 262144,
    hidden_width: int = 0,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """A text classifier whose class scores are the sum of a bag-of-words model's and a linear (or
    one-hidden-layer) model's over the mean and max of the ``tok2vec`` vectors (e.g. an
    ``ElmoListener``) of each doc.

    Both branches give logits from the first update, so each learns at its own pace: the sparse
    n-gram weights (spaCy's ``TextCatBOW``) start at zero and the pooled branch starts small.
    hidden_width: 0 for a linear pooled branch, else a Maxout layer of this width first.
    The pooled vector gets ``[training] dropout`` (a thinc ``Dropout``, whose rate spaCy sets on each
    update); dropout on the ELMo vectors themselves is the listener's own ``dropout``.
    """
    if hidden_width < 0:
        raise ValueError(f"TextCatPooledBOW hidden_width must be >= 0 (0: linear), got {hidden_width}.")
    if length < 1:
        raise ValueError(f"TextCatPooledBOW length must be >= 1, got {length}.")
    length = 2 ** (length - 1).bit_length()  # the hash table's size must be a power of two
    bow: Model = chain(extract_ngrams(ngram_size, attr=ORTH), SparseLinear_v2(nO=nO, length=length))
    bow = with_cpu(bow, bow.ops)
    pooled: Model = chain(tok2vec, list2ragged(), concatenate(reduce_mean(), reduce_max()), Dropout())
    head = Linear(nO=nO) if hidden_width == 0 else chain(Maxout(hidden_width, nP=3, normalize=True), Linear(nO=nO))
    scores: Model = add(bow, chain(pooled, head))
    model: Model = chain(scores, softmax_activation() if exclusive_classes else Logistic())
    model.set_ref("tok2vec", tok2vec)
    if nO is not None:
        model.set_dim("nO", nO)
    model.attrs["multi_label"] = not exclusive_classes
    return model
