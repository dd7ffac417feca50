"""Fetching one URL: a cut transfer resumes with Range, a .part left by an earlier run is resumed, 404 and
a wrong hash fail without leaving a file that looks complete, a server without Range starts over, and an
unreachable server is a NetworkError. Against a local server only."""
import hashlib
import socket

import pytest

from spacy_elmo.published.download import fetch
from spacy_elmo.published.errors import DownloadError, ModelUnavailableError, NetworkError, VerificationError

DATA = bytes(range(256)) * 2000  # 512,000 bytes


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_transfer_cut_halfway_resumes_with_range_and_gives_the_whole_file(server, tmp_path):
    server.files["/f.bin"] = DATA
    server.cuts["/f.bin"] = 2
    target = tmp_path / "f.bin"
    assert fetch(server.url("/f.bin"), target, {"sha256": sha(DATA)}, progress=False) == sha(DATA)
    assert target.read_bytes() == DATA
    assert not (tmp_path / "f.bin.part").exists()
    ranges = server.gets("/f.bin")
    assert ranges[0] is None and len(ranges) == 3
    assert ranges[1] == f"bytes={len(DATA) // 2}-"  # resumed where the cut left it, not from zero


def test_a_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    server.files["/f.bin"] = DATA
    (tmp_path / "f.bin.part").write_bytes(DATA[:1000])
    fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False)
    assert server.gets("/f.bin") == ["bytes=1000-"]
    assert (tmp_path / "f.bin").read_bytes() == DATA


def test_a_resume_names_the_file_version_and_forgets_it_once_complete(server, tmp_path):
    server.files["/f.bin"] = DATA
    server.cuts["/f.bin"] = 1
    fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False)
    assert server.if_ranges == [None, server.etag("/f.bin")]  # the resume asks for the rest of *that* version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no .part, no .part.validator left


def test_a_part_file_of_a_version_the_server_no_longer_has_is_not_spliced(server, tmp_path):
    """A .part from an earlier run, and the file changed on the server since: the server answers If-Range
    with the whole new file (200), which replaces the old start instead of being appended to it."""
    old, new = DATA, bytes(reversed(DATA))
    server.files["/f.bin"] = old
    (tmp_path / "f.bin.part").write_bytes(old[:1000])
    (tmp_path / "f.bin.part.validator").write_text(server.etag("/f.bin"))
    server.files["/f.bin"] = new
    assert fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(new)}, progress=False) == sha(new)
    assert (tmp_path / "f.bin").read_bytes() == new
    assert server.gets("/f.bin") == ["bytes=1000-"]  # one request: the whole file came back at once


def test_a_complete_part_file_is_verified_not_fetched_again(server, tmp_path):
    server.files["/f.bin"] = DATA
    (tmp_path / "f.bin.part").write_bytes(DATA)
    fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA  # the server answered 416: nothing left to send


def test_a_server_without_range_support_starts_over(server, tmp_path):
    server.files["/f.bin"] = DATA
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"x" * 1000)  # what a Range-less server must not be appended to
    fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA


def test_404_is_an_error_naming_the_url_and_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match=r"404.*SPACY_ELMO_REGISTRY") as err:
        fetch(server.url("/missing.bin"), tmp_path / "m.bin", progress=False)
    assert server.url("/missing.bin") in str(err.value)
    assert list(tmp_path.iterdir()) == [] or not (tmp_path / "m.bin").exists()
    assert len(server.gets("/missing.bin")) == 1  # not retried


def test_a_wrong_sha256_is_refused_and_nothing_is_kept(server, tmp_path):
    server.files["/f.bin"] = DATA
    with pytest.raises(VerificationError, match="sha256") as err:
        fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(b"other bytes")}, progress=False)
    assert sha(DATA) in str(err.value) and sha(b"other bytes") in str(err.value)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_md5_and_sha1_are_checked_where_the_publisher_states_them(server, tmp_path):
    server.files["/f.bin"] = DATA
    good = {"md5": hashlib.md5(DATA).hexdigest(), "sha1": hashlib.sha1(DATA).hexdigest()}
    fetch(server.url("/f.bin"), tmp_path / "f.bin", good, progress=False)
    with pytest.raises(VerificationError, match="sha1"):
        fetch(server.url("/f.bin"), tmp_path / "g.bin", {**good, "sha1": "0" * 40}, progress=False)


def test_an_unreachable_server_is_a_network_error_after_retries(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError, match="Cannot reach") as err:
        fetch(f"http://127.0.0.1:{port}/f.bin", tmp_path / "f.bin", progress=False, retries=2, backoff_s=0)
    assert isinstance(err.value, ModelUnavailableError)


def test_a_size_the_registry_states_is_checked(server, tmp_path):
    server.files["/f.bin"] = DATA
    with pytest.raises(VerificationError, match="registry says 1,000"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", size=1000, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_a_redirect_is_followed_and_a_resume_keeps_its_range(server, tmp_path):
    server.files["/objects/f.bin"] = DATA
    server.redirects["/release/f.bin"] = server.url("/objects/f.bin")
    server.cuts["/objects/f.bin"] = 1
    fetch(server.url("/release/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert server.gets("/objects/f.bin") == [None, f"bytes={len(DATA) // 2}-"]


def test_a_redirect_from_https_to_plain_http_is_refused():
    import urllib.request

    from spacy_elmo.published.download import InsecureRedirectError, _NoDowngrade

    request = urllib.request.Request("https://example.org/weights.hdf5")
    with pytest.raises(InsecureRedirectError, match="plain http"):
        _NoDowngrade().redirect_request(request, None, 302, "Found", {}, "http://example.org/weights.hdf5")
    assert _NoDowngrade().redirect_request(request, None, 302, "Found", {}, "https://cdn.example.org/w").full_url == "https://cdn.example.org/w"


def test_a_server_error_is_retried_with_backoff(server, tmp_path, monkeypatch):
    from spacy_elmo.published import download

    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    server.files["/f.bin"] = DATA
    server.unavailable["/f.bin"] = 2
    fetch(server.url("/f.bin"), tmp_path / "f.bin", {"sha256": sha(DATA)}, progress=False, retries=3, backoff_s=1.0)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert sleeps == [1.0, 2.0]  # doubled after each try that brought nothing
    server.unavailable["/f.bin"] = 5
    with pytest.raises(DownloadError, match="failed 3 times in a row.*503"):
        fetch(server.url("/f.bin"), tmp_path / "g.bin", progress=False, retries=3, backoff_s=0)


def test_free_disk_space_is_checked_before_anything_is_written(server, tmp_path, monkeypatch):
    import collections

    from spacy_elmo.published import download
    from spacy_elmo.published.errors import DiskSpaceError

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(download.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    server.files["/f.bin"] = DATA
    with pytest.raises(DiskSpaceError, match="SPACY_ELMO_CACHE"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", progress=False)
    assert not (tmp_path / "f.bin.part").exists()
