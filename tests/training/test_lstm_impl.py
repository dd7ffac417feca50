"""[training] lstm_impl / lstm_compile / cuda_graphs / autocast: the trainer's LM gives the same loss
and gradients on either LSTM route, and bad values fail early with the choices named."""
import pytest
import torch

from spacy_elmo.bilm.fast import batched_lstm
from spacy_elmo.training.config import PretrainConfig
from spacy_elmo.training.trainer import TrainingError, autocast_context, build_lm, lstm_settings

from tests.bilm.lstm_parity import lm_loss_and_grads, random_lm_batch as random_batch
from tests.helpers import tiny_options


def config(**training) -> PretrainConfig:
    c = PretrainConfig(model=tiny_options())
    c.training.adaptive_cutoffs = [10, 20]
    c.training.dropout = c.training.output_dropout = 0.2
    for key, value in training.items():
        setattr(c.training, key, value)
    return c


def loss_and_grads(impl: str):
    return lm_loss_and_grads(config(lstm_impl=impl), 30, random_batch())


def test_batched_and_loop_routes_give_the_same_loss_and_gradients():
    batched_lstm.ROUTES.clear()
    loss_b, grads_b = loss_and_grads("batched")
    assert batched_lstm.ROUTES["batched"] == 2  # both layers took the batched route
    loss_l, grads_l = loss_and_grads("loop")
    assert batched_lstm.ROUTES["batched"] == 2  # and the loop route did not
    torch.testing.assert_close(loss_b, loss_l, atol=1e-6, rtol=1e-6)
    assert grads_b.keys() == grads_l.keys() and any("lstm" in k for k in grads_b)
    for key in grads_b:
        torch.testing.assert_close(grads_b[key], grads_l[key], atol=1e-5, rtol=1e-5, msg=key)


def test_the_default_config_trains_on_the_batched_route():
    assert PretrainConfig().training.lstm_impl == "batched"
    assert build_lm(PretrainConfig(model=tiny_options()), 30).bilm.lstm_settings.impl == "batched"


def test_bad_settings_name_the_choices():
    with pytest.raises(TrainingError, match=r"\[training\] lstm_impl is 'cudnn'; expected one of \('loop', 'batched'\)"):
        lstm_settings(config(lstm_impl="cudnn"))
    with pytest.raises(TrainingError, match=r"autocast is 'fp16'; expected one of \['auto', 'bfloat16', 'none'\]"):
        autocast_context(config(autocast="fp16"), torch.device("cpu"))


def test_bfloat16_autocast_changes_the_arithmetic_but_not_much():
    torch.manual_seed(0)
    lm = build_lm(config(dropout=0.0, output_dropout=0.0), 30).train()
    batch = random_batch()
    full = lm(batch).loss
    with autocast_context(config(autocast="bfloat16"), torch.device("cpu")):
        product = torch.baddbmm(torch.zeros(1, 1, 1), torch.ones(1, 1, 1), torch.ones(1, 1, 1))
        half = lm(batch).loss
    assert product.dtype == torch.bfloat16  # the LSTM's matmuls run in bf16
    assert half.dtype == torch.float32 and torch.isfinite(half)
    assert float(half) != float(full)
    assert abs(float(half) - float(full)) < 0.05 * float(full)


@pytest.mark.parametrize("flags, ratio, want", [({"avx512_bf16": True}, 0.84, None), ({"avx512_bf16": True}, 2.1, torch.bfloat16),
                                                ({"avx512_bf16": True, "amx_bf16": True}, 3.0, torch.bfloat16), ({}, 2.1, None)],
                         ids=["intel-avx512-bf16-no-amx", "zen4-avx512-bf16", "amx-bf16", "no-bf16"])
def test_auto_autocast_is_bf16_only_on_a_cpu_whose_bf16_measured_faster(monkeypatch, tmp_path, flags, ratio, want):
    """The ratios: bf16 autocast pretraining measured 0.84x on the Intel Xeon without AMX, 2.1x on a Zen 4 (issue 27)."""
    from spacy_elmo.bilm.fast import cpu_bf16, precision_auto
    from spacy_elmo.training.trainer import autocast_dtype

    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_bf16, "cpu_capabilities", lambda: dict(flags))
    timed = []

    def time_products(products, purpose="inference"):
        timed.append((tuple(products), purpose))
        return {p.name: {"fp32": 1e-3 * ratio, "bf16": 1e-3} for p in products}

    monkeypatch.setattr(precision_auto, "time_products", time_products)
    precision_auto.forget_verdicts()
    try:
        cfg = config(autocast="auto")
        assert autocast_dtype("auto", torch.device("cpu"), precision_auto.ProductSizes.of(cfg.model)) is want
        assert autocast_dtype("auto", torch.device("meta")) is None  # not the CPU: float32
        with autocast_context(cfg, torch.device("cpu")):
            product = torch.mm(torch.ones(2, 2), torch.ones(2, 2))
        if flags:  # measured once, for training, at the config's model sizes
            (products, purpose), = timed
            assert purpose == "training" and products == precision_auto.product_shapes(precision_auto.ProductSizes.of(cfg.model))
        else:
            assert not timed
    finally:
        precision_auto.forget_verdicts()
    assert product.dtype == (want or torch.float32)
