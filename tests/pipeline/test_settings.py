"""Issue 14, items 4 and 5: the component's settings are declared once (ElmoSettings); docs are
split by registered, versioned functions; old configs still load; the fork choice is explicit."""
from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import numpy
import pytest
import spacy
from thinc.api import Config

from spacy_elmo.pipeline.pipe import make_elmo
from spacy_elmo.pipeline.settings import LEGACY_SETTINGS, ElmoSettings
from spacy_elmo.layers.splitting import SentenceSplitter, WindowSplitter

TEXT = "The river bank was muddy. The bank raised its rates again!"


# The documented defaults (docs/usage.md, "Using the component"), written out: not recomputed from ElmoSettings.
DOCUMENTED_DEFAULTS = {
    "weights": None, "options_file": None, "weight_file": None, "frozen": True, "trainable_layers": None,
    "learn_rate_scale": 1.0, "stateful": False, "batch_size": 64, "max_batch_tokens": 4096,
    "split": None,  # null: not given, i.e. spacy-elmo.sentences.v1 with its own defaults (or the old top-level keys)
    "cache_size_mb": 0.0, "output_mix": "mean", "set_vector_hooks": True, "set_doc_tensor": False, "precision": "fp32",
}
OLD_TOP_LEVEL_SETTINGS = ["split_sentences", "window_size", "window_overlap"]


def test_one_declaration_feeds_the_factory_signature_and_default_config():
    params = list(inspect.signature(make_elmo).parameters)
    assert params == ["nlp", "name", "model", *DOCUMENTED_DEFAULTS, *OLD_TOP_LEVEL_SETTINGS]
    assert [f.name for f in dataclasses.fields(ElmoSettings)] == list(DOCUMENTED_DEFAULTS)
    assert list(LEGACY_SETTINGS) == OLD_TOP_LEVEL_SETTINGS
    default_config = dict(spacy.blank("en").get_factory_meta("elmo").default_config)
    assert default_config.pop("model") == {"@architectures": "spacy-elmo.BiLM.v1", "dropout": 0.0}
    assert default_config == DOCUMENTED_DEFAULTS


def test_the_pipe_and_the_thinc_model_share_one_settings_object(tiny_nlp):
    """cache_size_mb had a default of 512 in the pipe and 0 in the model; frozen was stored three times."""
    nlp = tiny_nlp(cache_size_mb=512)
    elmo = nlp.get_pipe("elmo")
    assert elmo.model.settings is elmo.settings
    assert elmo.settings.cache_size_mb == 512.0 and elmo.model.cache.max_bytes == 512 * 1024 * 1024
    assert elmo.frozen is elmo.settings.frozen is True
    assert "frozen" not in elmo.model.attrs and "cache_size_mb" not in elmo.model.attrs
    nlp = tiny_nlp(frozen=False)
    assert not nlp.get_pipe("elmo").model.cache.enabled  # a trainable biLM is never cached
    assert nlp.get_pipe("elmo").model.shim.frozen is False


def test_settings_survive_serialization_and_the_config_wins(tiny_nlp):
    nlp = tiny_nlp(batch_size=3, output_mix="top")
    data = nlp.to_bytes()
    other = spacy.blank("en").from_config(nlp.config).from_bytes(data)
    assert other.get_pipe("elmo").settings == nlp.get_pipe("elmo").settings
    assert other.get_pipe("elmo").model.settings is other.get_pipe("elmo").settings


@pytest.mark.parametrize("bad, message", [
    ({"batch_size": 0}, "batch_size"),
    ({"cache_size_mb": -1}, "cache_size_mb"),
    ({"max_batch_tokens": 100}, "window_size <= max_batch_tokens"),
    ({"output_mix": "median"}, "output_mix"),
])
def test_bad_settings_fail_at_add_pipe(tiny_model, bad, message):
    with pytest.raises(ValueError, match=message):
        spacy.blank("en").add_pipe("elmo", config={"weights": str(tiny_model), **bad})


# -- doc splitting: registered, versioned functions ---------------------------------------------------
def embed_with(tiny_model, split=None, **config):
    nlp = spacy.blank("en")
    cfg = {"weights": str(tiny_model), **config}
    if split is not None:
        cfg["split"] = split
    nlp.add_pipe("elmo", config=cfg)
    return nlp(TEXT)._.elmo_data.layers


def test_splitters_are_registered_and_named_in_the_config(tiny_model):
    per_sentence = embed_with(tiny_model)
    whole = embed_with(tiny_model, {"@misc": "spacy-elmo.windows.v1"})
    numpy.testing.assert_array_equal(embed_with(tiny_model, {"@misc": "spacy-elmo.sentences.v1", "sentencizer": True}), per_sentence)
    numpy.testing.assert_array_equal(embed_with(tiny_model, {"@misc": "spacy-elmo.sentences.v1", "sentencizer": False}), whole)
    assert not numpy.allclose(per_sentence, whole, atol=1e-4)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "split": {"@misc": "spacy-elmo.windows.v1", "window_size": 80}})
    assert nlp.config["components"]["elmo"]["split"] == {"@misc": "spacy-elmo.windows.v1", "window_size": 80, "window_overlap": 64}
    assert nlp.get_pipe("elmo").settings.split == WindowSplitter(window_size=80, window_overlap=64)


@pytest.mark.parametrize("legacy, new", [
    ("sentencizer", SentenceSplitter()),
    (True, SentenceSplitter(sentencizer=False)),
    (False, WindowSplitter()),
])
def test_old_split_sentences_still_means_what_it_meant(tiny_model, legacy, new):
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "split_sentences": legacy, "window_size": 100, "window_overlap": 10})
    assert nlp.get_pipe("elmo").settings.split == dataclasses.replace(new, window_size=100, window_overlap=10)
    numpy.testing.assert_array_equal(nlp(TEXT)._.elmo_data.layers, embed_with(tiny_model, new.config))


@pytest.mark.parametrize("legacy", [{"split_sentences": True}, {"split_sentences": "sentencizer", "window_size": 128}])
def test_old_and_new_splitting_settings_that_disagree_are_refused(tiny_model, legacy):
    with pytest.raises(ValueError, match="both a 'split' block and the older split_sentences.*and they disagree"):
        spacy.blank("en").add_pipe("elmo", config={
            "weights": str(tiny_model), **legacy, "split": {"@misc": "spacy-elmo.sentences.v1"}})


LEGACY_KEYS = ("split_sentences", "window_size", "window_overlap")


def test_old_settings_load_but_nothing_writes_them_again(tiny_model, tmp_path):
    """An old config (old keys beside an agreeing block, as configs used to be) loads; its saved
    config has the block only, and so does a new pipeline's."""
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": str(tiny_model), "split_sentences": False, "window_size": 100,
                                 "split": {"@misc": "spacy-elmo.windows.v1", "window_size": 100}})
    stored = nlp.config["components"]["elmo"]
    assert not set(LEGACY_KEYS) & set(stored)
    assert stored["split"] == {"@misc": "spacy-elmo.windows.v1", "window_size": 100, "window_overlap": 64}
    nlp.to_disk(tmp_path / "old")
    text = (tmp_path / "old" / "config.cfg").read_text()
    assert "split_sentences" not in text and "[components.elmo.split]" in text
    assert spacy.load(tmp_path / "old").get_pipe("elmo").settings.split == WindowSplitter(window_size=100)

    fresh = spacy.blank("en")
    fresh.add_pipe("elmo", config={"weights": str(tiny_model)})
    assert not set(LEGACY_KEYS) & set(fresh.config["components"]["elmo"])
    assert fresh.config["components"]["elmo"]["split"] == SentenceSplitter().config


def test_the_shipped_configs_use_the_split_block(tiny_model):
    from tests.pipeline.test_configs import CONFIGS

    for path in sorted(CONFIGS.glob("*.cfg")):
        config = spacy.util.load_config(path, overrides={"paths.elmo": str(tiny_model)})
        assert not set(LEGACY_KEYS) & set(config["components"]["elmo"]), path
        nlp = spacy.util.load_model_from_config(config, auto_fill=True)
        assert nlp.get_pipe("elmo").settings.split == SentenceSplitter(sentencizer=True, window_size=256, window_overlap=64)


def test_a_splitter_cuts_too_long_sequences_into_windows(tiny_model):
    nlp = spacy.blank("en")
    doc = nlp.make_doc(" ".join(f"w{i}" for i in range(30)))
    segments = WindowSplitter(window_size=10, window_overlap=4)(doc, 12)
    assert len(segments) > 1 and all(len(s) <= 10 for s in segments)
    kept = [i for s in segments for i in range(s.keep_start, s.keep_end)]
    assert kept == list(range(30))
    assert len(WindowSplitter(window_size=10, window_overlap=4)(doc, 30)) == 1


# -- forked workers: an explicit choice, not a side effect of importing ------------------------------------
@pytest.mark.slow
def test_the_fork_handler_is_installed_by_the_component_not_by_import(tiny_model):
    script = f"""
import spacy, spacy_elmo.pipeline
from spacy_elmo.bilm.fast import threads
assert not threads._installed, "installed at import"
nlp = spacy.blank("en")
nlp.add_pipe("elmo", config={{"weights": {str(tiny_model)!r}}})
assert threads._installed and threads.forked_worker_threads() == 1
import os, torch
torch.set_num_threads(3)
pid = os.fork()
if pid == 0:
    os._exit(0 if torch.get_num_threads() == 1 else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "child kept the parent's threads"
threads.set_forked_worker_threads(None)
pid = os.fork()
if pid == 0:
    os._exit(0 if torch.get_num_threads() == 3 else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "None must leave torch's setting"
print("ok")
"""
    if not hasattr(__import__("os"), "fork"):
        pytest.skip("no fork on this platform")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.slow
def test_the_environment_variable_sets_the_choice():
    script = "from spacy_elmo.bilm.fast import threads; print(threads.forked_worker_threads())"
    env = dict(__import__("os").environ)
    for value, expected in [("", "1"), ("4", "4"), ("none", "None")]:
        env["SPACY_ELMO_FORKED_WORKER_THREADS"] = value
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected


def test_default_config_block_is_a_valid_config():
    config = Config({"components": {"elmo": {"factory": "elmo", **ElmoSettings.default_config()}}})
    assert Config().from_str(config.to_str())["components"]["elmo"]["split"] is None  # null: the default block


@pytest.mark.slow
def test_splitters_resolve_through_entry_points_without_importing_spacy_elmo():
    script = """
import sys, spacy
assert "spacy_elmo" not in sys.modules
print(spacy.util.registry.get("misc", "spacy-elmo.sentences.v1")(sentencizer=False).config["@misc"])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "spacy-elmo.sentences.v1"
