"""A published model end to end, against a local server and the tiny AllenNLP reference model: downloaded,
verified, converted once, cached; offline with and without a cache; the sha256 recorded on first download
checked later; a cached copy changed afterwards refused; two processes at once; names in resolve_weights."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from spacy_elmo.published import cache, ensure_model
from spacy_elmo.published.errors import ArchiveError, ModelUnavailableError, OfflineError, VerificationError
from tests.helpers import ROOT, needs_shared
from tests.published.conftest import ALLENNLP, EFML, make_zip, reference_files, serve_reference

pytestmark = needs_shared(ALLENNLP)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_use_downloads_verifies_converts_and_caches(server, registry, private_cache):
    serve_reference(server, registry)
    native = ensure_model("tiny-en", progress=False)
    assert native == private_cache / "models" / "tiny-en" / "native"
    assert sorted(p.name for p in native.iterdir()) == ["options.json", "weights.safetensors"]
    assert json.loads((native / "options.json").read_text())["lang"] == "en"
    folder = native.parent
    manifest = json.loads((folder / "manifest.json").read_text())
    files = reference_files()
    assert {f: d["sha256"] for f, d in manifest["downloads"].items()} == {f: sha(b) for f, b in files.items()}
    pins = json.loads((folder / "pins.json").read_text())  # nobody publishes a hash for these: recorded now
    assert sorted(pins.values()) == sorted(sha(b) for b in files.values())
    assert not (folder / "download").exists()  # the native copy is what is kept
    from spacy_elmo.bilm import load_bilm, load_original

    converted, original = load_bilm(native), load_original(ALLENNLP / "options.json", ALLENNLP / "lm_weights.hdf5")
    for key, value in original.state_dict().items():
        assert (converted.state_dict()[key] == value).all(), key
    n_requests = len(server.requests)
    assert ensure_model("tiny-en", progress=False) == native
    assert len(server.requests) == n_requests  # cached: the server is not asked again


def test_a_name_resolves_like_any_model_and_the_listing_says_cached(server, registry, cli):
    from spacy_elmo.weights import resolve_weights

    serve_reference(server, registry)
    listing = cli("models").stdout
    assert "tiny-en" in [line.split()[0] for line in listing.splitlines() if line.strip()]
    chosen = resolve_weights("tiny-en")
    assert chosen.kind == "published" and chosen.name == "tiny-en"
    assert chosen.load().options.projection_dim > 0
    import spacy_elmo

    assert spacy_elmo.load_bilm("tiny-en").options.projection_dim == chosen.load().options.projection_dim
    row = next(line for line in cli("models").stdout.splitlines() if line.startswith("tiny-en "))
    assert " yes " in row and "sha256 recorded on first download" in row and "plain http" in row
    n_bytes = sum(len(data) for data in reference_files().values())
    assert f" {n_bytes / 1e3:.0f} kB " in row  # the size, known once downloaded


def test_an_archive_with_the_model_in_a_subfolder(server, registry):
    files = reference_files()
    server.files["/20/209.zip"] = make_zip({"209/meta.json": b"{}", "209/options.json": files["options.json"],
                                            "209/model.hdf5": files["weights.hdf5"], "209/vocab.txt": b"<S>\n"})
    registry({"tiny-zip": {"lang": "en", "format": "allennlp", "archive": {
        "url": server.url("/20/209.zip"), "sha256": sha(server.files["/20/209.zip"])}}})
    native = ensure_model("tiny-zip", progress=False)
    assert (native / "weights.safetensors").is_file()
    assert not (native.parent / "unpacked").exists()


def test_a_hostile_archive_is_refused_and_nothing_lands_outside_the_cache(server, registry, private_cache, tmp_path):
    server.files["/evil.zip"] = make_zip({"m/options.json": b"{}", "../../../evil_from_zip.txt": b"pwned"})
    registry({"evil": {"lang": "en", "format": "allennlp", "archive": {"url": server.url("/evil.zip")}}})
    with pytest.raises(ArchiveError, match="outside its folder"):
        ensure_model("evil", progress=False)
    assert not list(tmp_path.rglob("evil_from_zip.txt"))
    assert not (private_cache / "models" / "evil" / "manifest.json").exists()


def test_a_publisher_sha256_that_does_not_match_is_refused(server, registry, private_cache):
    serve_reference(server, registry, **{"weights.hdf5": {"sha256": "ab" * 32}})
    with pytest.raises(VerificationError, match="publisher's hash") as err:
        ensure_model("tiny-en", progress=False)
    assert "abab" in str(err.value)
    folder = private_cache / "models" / "tiny-en"
    assert not (folder / "manifest.json").exists() and not (folder / "native").exists()
    assert not list(folder.rglob("weights.hdf5*"))  # neither the file nor its .part


def test_the_sha256_recorded_on_first_download_is_checked_later(server, registry):
    serve_reference(server, registry)
    ensure_model("tiny-en", progress=False)
    server.files["/tiny-en/weights.hdf5"] = server.files["/tiny-en/weights.hdf5"][:-1] + b"!"  # the server changes
    with pytest.raises(VerificationError, match="first downloaded.*pins.json"):
        ensure_model("tiny-en", progress=False, force=True)


def test_a_cached_copy_changed_afterwards_is_refused_on_later_use(server, registry):
    serve_reference(server, registry)
    native = ensure_model("tiny-en", progress=False)
    cache._verified.clear()  # as in a new process
    with open(native / "weights.safetensors", "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x01")
    with pytest.raises(VerificationError, match="changed after it was verified.*download tiny-en --force"):
        ensure_model("tiny-en", progress=False)


def test_offline_without_a_cache_says_offline_and_names_the_urls_and_the_folder(server, registry, monkeypatch, private_cache):
    entry = serve_reference(server, registry)
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline") as err:
        ensure_model("tiny-en", progress=False)
    message = str(err.value)
    for source in entry["files"].values():
        assert source["url"] in message
    assert str(private_cache / "models" / "tiny-en" / "download") in message and "login node" in message
    assert server.requests == []
    assert isinstance(err.value, ModelUnavailableError)


def test_offline_with_a_cache_and_with_hand_placed_files(server, registry, monkeypatch, private_cache):
    serve_reference(server, registry)
    native = ensure_model("tiny-en", progress=False)
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    n_requests = len(server.requests)
    assert ensure_model("tiny-en", progress=False) == native
    # a second model fetched by hand (a login node, a USB stick): verified and converted without the network
    serve_reference(server, registry, name="tiny-hand")
    download = private_cache / "models" / "tiny-hand" / "download"
    download.mkdir(parents=True)
    for file_name, data in reference_files().items():
        (download / file_name).write_bytes(data)
    assert (ensure_model("tiny-hand", progress=False) / "weights.safetensors").is_file()
    assert len(server.requests) == n_requests


def test_offline_force_on_a_cached_model_says_it_is_cached_and_keeps_it(server, registry, monkeypatch, private_cache):
    serve_reference(server, registry)
    native = ensure_model("tiny-en", progress=False)
    download = private_cache / "models" / "tiny-en" / "download"
    for leftover in (download.iterdir() if download.is_dir() else ()):
        leftover.unlink()  # nothing to rebuild from without the network
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="tiny-en is cached, but fetching it again .--force. needs the network"):
        ensure_model("tiny-en", progress=False, force=True)
    assert ensure_model("tiny-en", progress=False) == native


def test_no_network_is_the_same_kind_of_error_as_offline(registry, private_cache):
    registry({"tiny-en": {"lang": "en", "format": "allennlp", "files": {
        "options.json": {"url": "http://127.0.0.1:9/options.json"}, "weights.hdf5": {"url": "http://127.0.0.1:9/w.hdf5"}}}})
    with pytest.raises(ModelUnavailableError, match="network failed.*download tiny-en") as err:
        ensure_model("tiny-en", progress=False)
    assert "http://127.0.0.1:9/options.json" in str(err.value)


@pytest.mark.slow
def test_two_processes_fetching_at_once_end_with_one_good_copy(server, registry, private_cache, tmp_path):
    import time

    serve_reference(server, registry)
    server.delay_s = 0.005  # the download takes a while, so the second process arrives while it runs
    code = ("from spacy_elmo.published import ensure_model; from spacy_elmo.bilm import load_bilm; "
            "print(load_bilm(ensure_model('tiny-en', progress=False)).options.projection_dim)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    logs = [tmp_path / f"err{i}.txt" for i in range(2)]
    with cache.model_lock("tiny-en"):  # both start while the model is locked, so both must wait for it
        procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=open(log, "w"), text=True) for log in logs]
        deadline = time.monotonic() + 120
        while not all(log.exists() and "Waiting for another process" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [l.read_text() for l in logs]
            time.sleep(0.1)
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [log.read_text() for log in logs]
    assert outputs[0] == outputs[1] and outputs[0].strip().isdigit()
    assert len(server.gets("/tiny-en/weights.hdf5")) == 1  # one download, shared; no .part left behind
    assert not list((private_cache / "models").rglob("*.part"))


def test_download_command_prints_the_folder_and_unknown_names_suggest_close_ones(server, registry, cli, private_cache):
    serve_reference(server, registry)
    result = cli("download", "tiny-en", "--quiet")
    assert result.exit_code == 0 and result.stdout.strip() == str(private_cache / "models" / "tiny-en" / "native")
    wrong = cli("download", "allennlp-en-orginal")
    assert wrong.exit_code == 1 and "did you mean allennlp-en-original" in wrong.stderr


@needs_shared(EFML)
def test_an_elmoformanylangs_archive_is_converted(server, registry, tmp_path):
    members = {f"tiny.model/{p.name}": p.read_bytes() for p in EFML.iterdir() if p.is_file()}
    server.files["/11/142.zip"] = make_zip(members)
    registry({"efml-tiny": {"lang": "de", "format": "elmoformanylangs", "archive": {"url": server.url("/11/142.zip")}}})
    native = ensure_model("efml-tiny", progress=False)
    assert json.loads((native / "options.json").read_text())["lang"] == "de"
    from spacy_elmo.bilm import load_bilm

    converted, original = load_bilm(native), load_bilm(EFML)
    sentences = [["Hallo", "Welt", "."], ["ein", "Satz"]]
    for a, b in zip(converted.embed_sentences(sentences), original.embed_sentences(sentences)):
        assert abs(a - b).max() < 1e-6


def test_convert_and_package_take_a_published_name(server, registry, cli, tmp_path):
    serve_reference(server, registry)
    result = cli("convert", "tiny-en", tmp_path / "copy", "--half")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "copy" / "options.json").read_text())["lang"] == "en"
    from spacy_elmo.application.pipeline_package import build_pipeline_dir

    pipeline = build_pipeline_dir("tiny-en", tmp_path / "pipeline", "en")
    assert '"tiny-en"' in (pipeline / "config.cfg").read_text()  # the config names the model, not a cache path
    assert (pipeline / "elmo" / "bilm" / "weights.safetensors").is_file()


def test_info_describes_a_published_model_and_a_misspelt_name_gets_suggestions(server, registry, cli):
    from spacy_elmo.errors import ElmoError
    from spacy_elmo.weights import resolve_weights

    serve_reference(server, registry)
    result = cli("info", "--model", "tiny-en")
    assert result.exit_code == 0 and "converted from the published model 'tiny-en'" in result.stdout
    assert "lang=en" in result.stdout  # the registry's language, recorded in options.json
    with pytest.raises(ElmoError, match="did you mean tiny-en.*python -m spacy_elmo models"):
        resolve_weights("tiny-em")


def test_a_cached_model_whose_entry_now_names_other_urls_is_fetched_again(server, registry):
    entry = serve_reference(server, registry)
    ensure_model("tiny-en", progress=False)
    for file_name, data in reference_files().items():
        server.files[f"/mirror/{file_name}"] = data
    entry["files"] = {f: {"url": server.url(f"/mirror/{f}")} for f in entry["files"]}
    registry({"tiny-en": entry})
    ensure_model("tiny-en", progress=False)
    assert len(server.gets("/mirror/weights.hdf5")) == 1


def test_a_hand_placed_file_with_the_wrong_bytes_is_refused(server, registry, private_cache):
    files = reference_files()
    serve_reference(server, registry, **{"options.json": {"sha256": sha(files["options.json"])}})
    download = private_cache / "models" / "tiny-en" / "download"
    download.mkdir(parents=True)
    (download / "options.json").write_bytes(files["options.json"] + b" ")
    with pytest.raises(VerificationError, match=r"options.json.*Delete .*download again"):
        ensure_model("tiny-en", progress=False)


def test_the_component_takes_a_published_name(server, registry):
    import spacy

    serve_reference(server, registry)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"weights": "tiny-en"})
    doc = nlp("The bank raised rates.")
    assert doc[1]._.elmo.shape[-1] > 0


def test_a_first_download_that_is_not_a_model_is_not_pinned(server, registry, private_cache):
    """An error page served with 200 in place of an unpinned archive fails to unpack; once the user deletes it
    as the error says, the real archive downloads and converts (its sha256 is the one recorded, not the page's)."""
    files = reference_files()
    good = make_zip({"m/options.json": files["options.json"], "m/weights.hdf5": files["weights.hdf5"]})
    server.files["/20/7.zip"] = b"<html>proxy error</html>"
    registry({"tiny-zip": {"lang": "en", "format": "allennlp", "archive": {"url": server.url("/20/7.zip")}}})
    with pytest.raises(ArchiveError, match="delete it and download again"):
        ensure_model("tiny-zip", progress=False)
    folder = private_cache / "models" / "tiny-zip"
    assert not (folder / "pins.json").exists()
    (folder / "download" / "7.zip").unlink()
    server.files["/20/7.zip"] = good
    assert (ensure_model("tiny-zip", progress=False) / "weights.safetensors").is_file()
    assert list(json.loads((folder / "pins.json").read_text()).values()) == [sha(good)]


def test_a_failed_download_force_keeps_the_cached_copy(server, registry):
    serve_reference(server, registry)
    native = ensure_model("tiny-en", progress=False)
    server.files["/tiny-en/weights.hdf5"] = server.files["/tiny-en/weights.hdf5"][:-1] + b"!"  # the server changes
    with pytest.raises(VerificationError, match="first downloaded"):
        ensure_model("tiny-en", progress=False, force=True)
    del server.files["/tiny-en/weights.hdf5"]  # and then goes away
    with pytest.raises(Exception, match="404"):
        ensure_model("tiny-en", progress=False, force=True)
    n_requests = len(server.requests)
    assert ensure_model("tiny-en", progress=False) == native  # still cached and verified: not fetched again
    assert len(server.requests) == n_requests
