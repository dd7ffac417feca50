"""Saved files follow the umask: a pipeline saved by one user can be loaded by another."""
import os
import stat

import pytest
import spacy

from spacy_elmo.atomic import current_umask, new_file_mode, write_bytes


@pytest.fixture
def umask():
    """Run a test under a chosen umask; the old one comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_saved_pipeline_files_get_the_umask_mode(tmp_path, tiny_nlp, umask, mask):
    nlp = tiny_nlp()
    nlp("Warm up the biLM.")
    umask(mask)
    assert current_umask() == mask and new_file_mode() == 0o666 & ~mask
    nlp.to_disk(tmp_path / "pipeline")
    modes = _modes(tmp_path / "pipeline")
    assert "elmo/bilm/weights.safetensors" in modes  # the file safetensors creates 0600
    assert set(modes.values()) == {0o666 & ~mask}, modes
    spacy.load(tmp_path / "pipeline")


def test_atomic_writes_follow_the_umask(tmp_path, umask):
    umask(0o002)
    write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o664
