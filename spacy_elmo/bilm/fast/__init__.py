"""The routes that make the biLM fast, apart from the reference model they must equal.

Each gives the reference's numbers up to float rounding, and each is checked against it in the tests
(``tests/bilm``): ``packed_lstm`` (inference: rows packed by length; per direction a TorchScript loop,
``lstm_direction``, on oneDNN products, ``onednn``), ``batched_lstm`` (with grad: both directions in
one batched product per step; optionally compiled or CUDA-graphed), ``char_cnn`` (inference: only the
windows that can differ), ``threads`` (torch's threads per inference call, per direction, per forked
worker). They import the reference parts (``..lstm``, ``..char_cnn``, ...), never ``..model``, which
picks among them.
"""
