"""Unpacking untrusted archives: members that climb out (``..``, absolute paths), links and devices are
refused before anything is written; a zip bomb is capped; the model's folder is found or named."""
import io
import os
import stat
import tarfile
import zipfile

import pytest

from spacy_elmo.published.archive import find_model_folder, unpack
from spacy_elmo.published.errors import ArchiveError
from tests.published.conftest import make_zip


def unpacked_nothing(dest, outside):
    return not dest.exists() and not any(outside.rglob("evil*"))


@pytest.mark.parametrize("member", ["../evil.txt", "model/../../evil.txt", "/tmp/evil_abs.txt", "C:/evil.txt", "..\\evil.txt"])
def test_a_member_that_climbs_out_is_refused_and_nothing_is_written(tmp_path, member):
    archive = tmp_path / "a" / "bad.zip"
    archive.parent.mkdir()
    archive.write_bytes(make_zip({"model/options.json": b"{}", member: b"pwned"}))
    dest = tmp_path / "a" / "cache" / "unpacked"
    with pytest.raises(ArchiveError, match="outside its folder"):
        unpack(archive, dest)
    assert unpacked_nothing(dest, tmp_path)
    assert not os.path.exists("/tmp/evil_abs.txt")


def test_a_symlink_in_a_zip_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        link = zipfile.ZipInfo("model/weights.hdf5")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    archive = tmp_path / "link.zip"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError, match="symbolic link"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_links_and_devices_in_a_tar_are_refused(tmp_path, kind):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        good = tarfile.TarInfo("model/options.json")
        good.size = 2
        tf.addfile(good, io.BytesIO(b"{}"))
        bad = tarfile.TarInfo("model/evil")
        bad.type = kind
        bad.linkname = "/etc/passwd"
        tf.addfile(bad)
    with pytest.raises(ArchiveError, match="only plain files and folders"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tar_member_with_dotdot_is_refused(tmp_path):
    archive = tmp_path / "slip.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"pwned"))
    with pytest.raises(ArchiveError, match="outside"):
        unpack(archive, tmp_path / "sub" / "out")
    assert unpacked_nothing(tmp_path / "sub" / "out", tmp_path)


def test_a_zip_bomb_is_capped(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(make_zip({"model/big.bin": b"\0" * 5_000_000}))
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="zip bomb"):
        unpack(archive, tmp_path / "out", max_bytes=1_000_000)
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_an_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"<html>not found</html>")
    with pytest.raises(ArchiveError, match="not a readable zip or tar"):
        unpack(archive, tmp_path / "out")


def test_a_good_archive_unpacks_and_the_model_folder_is_found(tmp_path):
    archive = tmp_path / "ok.zip"
    archive.write_bytes(make_zip({"readme.txt": b"hi", "inner/model/options.json": b"{}", "inner/model/model.hdf5": b"h",
                                  "inner/model/meta.json": b"{}"}))
    dest = unpack(archive, tmp_path / "out")
    assert (dest / "readme.txt").read_bytes() == b"hi"
    assert find_model_folder(dest, "allennlp") == dest / "inner" / "model"
    assert find_model_folder(dest, "allennlp", "inner/model") == dest / "inner" / "model"
    with pytest.raises(ArchiveError, match="'subfolder'"):
        find_model_folder(dest, "elmoformanylangs")
    with pytest.raises(ArchiveError, match="no folder 'nope'"):
        find_model_folder(dest, "allennlp", "nope")
