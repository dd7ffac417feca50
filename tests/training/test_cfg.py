"""spacy_elmo.training.cfg reads and writes .cfg files exactly as thinc's Config does (for our subset)."""
import re

import pytest

from spacy_elmo.training import cfg
from spacy_elmo.training.config import ConfigError, PretrainConfig
from tests.helpers import ROOT

CONFIGS = sorted((ROOT / "configs").rglob("*.cfg"))

# Cases beyond configs/: interpolation inside and outside strings, nesting, escapes, literals, layout.
SNIPPETS = {
    "typed reference": "[a]\nn = 3\nx = 0.5\n[b]\nn = ${a.n}\nx = ${a:x}\nnone = ${c.v}\n[c]\nv = null",
    "reference in a string": '[paths]\nroot = "/data"\ntrain = "${paths.root}/train.spacy"\nbare = ${paths.root}/dev x',
    "number in a string and a list": "[a]\nn = 3\ns = \"n=${a.n}\"\nl = [${a.n}, 2]\nt = ${a.n}${a.n}",
    "nested references": "[a]\nz = [1, 2]\ny = ${a.z}\n[b]\nx = ${a.y}\ns = \"${a.y} and ${b.x}\"",
    "same-section key": "[a]\nm = 7\nk = ${m}",
    "dollar escape": '[a]\nprice = "$$5"\nliteral = "$${not.a.ref}"',
    "literals and strings": "[a]\nt = True\nf = false\nn = None\nw = hello world\ne =\nq = 'single'\nf1 = 1e-8\nf2 = 0.00000001",
    "multi-line value, comments, case": "# top\n[a]\n; note\nL2 = [[1, 32],\n    [2, 64]]\nKey = {\"@x\": \"y.v1\", \"n\": 1}\n",
    "nested sections": "[a]\nk = 1\n[a.b]\n@architectures = \"x.v1\"\nw = 2\n[a.b.c]\n[d]",
}


@pytest.fixture(scope="module")
def Config():
    return pytest.importorskip("thinc.api").Config


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_reader_and_writer_agree_with_thinc_on_every_shipped_config(Config, path):
    ours = cfg.load(path)
    theirs = Config().from_disk(path)
    assert ours == dict(theirs)
    assert cfg.dumps(ours) == theirs.to_str()
    assert cfg.loads(cfg.dumps(ours)) == ours


def test_the_shipped_configs_include_the_pretrain_ones():
    names = {str(p.relative_to(ROOT / "configs")) for p in CONFIGS}
    assert {"pretrain/tiny.cfg", "pretrain/default.cfg", "ner_elmo.cfg"} <= names


@pytest.mark.parametrize("text", SNIPPETS.values(), ids=list(SNIPPETS))
def test_interpolation_and_values_agree_with_thinc(Config, text, recwarn):
    ours = cfg.loads(text)
    assert ours == dict(Config().from_str(text))
    assert cfg.dumps(ours) == Config(ours).to_str()


def test_typed_reference_values_keep_their_type():
    data = cfg.loads(SNIPPETS["typed reference"] + "\n[d]\ns = \"${a.n} items\"")
    assert data["b"] == {"n": 3, "x": 0.5, "none": None}
    assert data["d"]["s"] == "3 items"


def test_overrides_apply_before_interpolation_as_in_thinc(Config):
    text = '[paths]\nroot = "/data"\ntrain = "${paths.root}/train"\n[training]\nmax_steps = 10'
    overrides = {"paths.root": "/other", "training.max_steps": 5, "training.new_key": [1, 2]}
    ours = cfg.loads(text, overrides)
    assert ours == dict(Config().from_str(text, overrides=overrides))
    assert ours["paths"]["train"] == "/other/train" and ours["training"]["max_steps"] == 5


def test_pretrain_config_file_round_trip_matches_thinc_bytes(Config, tmp_path):
    config = PretrainConfig.from_file(ROOT / "configs" / "pretrain" / "tiny.cfg", {"training.max_steps": 7})
    assert config.training.max_steps == 7
    config.to_file(tmp_path / "ours.cfg")
    Config(config.to_dict()).to_disk(tmp_path / "thinc.cfg")
    assert (tmp_path / "ours.cfg").read_bytes() == (tmp_path / "thinc.cfg").read_bytes()
    assert PretrainConfig.from_file(tmp_path / "ours.cfg") == config


@pytest.mark.parametrize("text, message", [
    ("[a.b]\nk = 1", "parent section [a] is not defined"),
    ("[a]\nk = ${b.c}\n[b]", "${b.c} refers to a key that does not exist"),
    ("[a]\nk = 1\n[b]\nsub = ${a}", "refers to a whole section"),
    ("[a]\n[a.b]\nk = 1\n[c]\nk = ${a.b}", "refers to a whole section"),
    ("[a]\n[a.*.x]\nk = 1", "positional-argument sections"),
    ("k = 1\n[a]", "Cannot parse the config"),
    ("[a]\nk = 1\nk = 2", "Cannot parse the config"),
    ("[a]\nk = $5", "bad '$'"),
    ("[a]\nb = 1\n[a.b]", "conflicts with the key 'b'"),
    ("[a]\nx = ${a.y}\ny = ${a.x}", "nest more than"),
    ("[DEFAULT]\nk = 1\n[a]", "DEFAULT"),
])
def test_unsupported_or_broken_configs_are_clear_errors(text, message):
    with pytest.raises(cfg.CfgError, match=re.escape(message)):
        cfg.loads(text)


def test_an_override_into_a_missing_section_is_an_error():
    with pytest.raises(cfg.CfgError, match=re.escape("no section [nope]")):
        cfg.loads("[a]\nk = 1", {"nope.k": 2})


def test_writer_refuses_what_a_cfg_cannot_hold():
    with pytest.raises(cfg.CfgError, match="not in a section"):
        cfg.dumps({"k": 1})
    with pytest.raises(cfg.CfgError, match="Cannot write"):
        cfg.dumps({"a": {"k": object()}})


def test_pretrain_config_wraps_parse_errors_with_the_path(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[model]\nlstm_dim = ${nope.x}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"Cannot parse config {bad}")):
        PretrainConfig.from_file(bad)


def test_model_section_keys_are_the_options_json_names_in_the_shipped_order():
    """``[model]`` keeps the file format (e.g. ``n_layers``) whatever BiLMOptions calls its fields."""
    shipped = cfg.load(ROOT / "configs" / "pretrain" / "default.cfg")
    written = PretrainConfig().to_dict()
    assert [key for key in written["model"] if key != "n_characters"] == list(shipped["model"])
    assert written["model"] == {**shipped["model"], "n_characters": 262}
    assert PretrainConfig.from_dict(shipped).model == PretrainConfig().model


def test_the_built_in_defaults_are_the_default_config_file():
    """``pretrain`` without ``--config`` trains with exactly what configs/pretrain/default.cfg says."""
    assert PretrainConfig.from_file(ROOT / "configs" / "pretrain" / "default.cfg") == PretrainConfig()
