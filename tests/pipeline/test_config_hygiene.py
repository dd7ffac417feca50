"""Every spaCy config in the repo passes ``spacy debug config`` and is what ``init fill-config`` makes of it.

The biLM pretraining configs live apart, in ``configs/pretrain/`` (they are not spaCy configs).
"""
import pytest
from thinc.api import Config

from tests.helpers import ROOT

SPACY_CONFIGS = sorted([*(ROOT / "configs").glob("*.cfg"), *(ROOT / "projects").glob("*/configs/*.cfg")])


def test_the_configs_folder_holds_spacy_configs_and_the_pretraining_ones_apart():
    assert {p.name for p in SPACY_CONFIGS} >= {"ner_elmo.cfg", "textcat_elmo.cfg", "textcat_elmo_pooled.cfg"}
    assert all("[nlp]" in p.read_text() for p in SPACY_CONFIGS)
    pretrain = sorted((ROOT / "configs" / "pretrain").glob("*.cfg"))
    assert {p.name for p in pretrain} == {"default.cfg", "tiny.cfg", "medium_gpu.cfg"}
    assert not any("[nlp]" in p.read_text() for p in pretrain)


@pytest.mark.parametrize("path", SPACY_CONFIGS, ids=[str(p.relative_to(ROOT)) for p in SPACY_CONFIGS])
def test_spacy_debug_config_passes_and_fill_config_changes_nothing(path, tmp_path, capsys):
    from spacy.cli.debug_config import debug_config
    from spacy.cli.init_config import fill_config

    (tmp_path / "train").mkdir()
    (tmp_path / "dev").mkdir()
    overrides = {"paths.train": str(tmp_path / "train"), "paths.dev": str(tmp_path / "dev")}
    debug_config(path, overrides=overrides)
    assert "Config is valid" in capsys.readouterr().out

    fill_config(tmp_path / "filled.cfg", path, silent=True)
    filled = Config().from_disk(tmp_path / "filled.cfg", interpolate=False)
    assert filled == Config().from_disk(path, interpolate=False)
