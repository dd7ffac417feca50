"""The registry: the built-in one is well-formed (every entry parses, names unique, https except the
documented plain-http hosts, the 44 ELMoForManyLangs ids, spaCy language codes, the German model's
published md5/sha1), a user's registry adds or overrides entries, and a malformed one gets an error that
names the file and the entry."""
import json
from importlib import resources

import pytest

from spacy_elmo.published.registry import builtin_registry, load_registry
from spacy_elmo.published.errors import RegistryError
from tests.helpers import ROOT

PLAIN_HTTP_HOSTS = ("http://vectors.nlpl.eu/repository/",)  # documented in docs/original-weights.md


def raw_builtin():
    text = resources.files("spacy_elmo.published").joinpath("registry.json").read_text(encoding="utf-8")
    pairs = json.loads(text, object_pairs_hook=lambda items: items)
    return pairs


def test_the_builtin_registry_parses_and_its_names_are_unique():
    names = [name for name, _ in raw_builtin()]
    assert len(names) == len(set(names)), "a name appears twice in registry.json"
    entries = builtin_registry()
    assert list(entries) == names and len(entries) >= 60


def test_builtin_urls_are_https_except_the_documented_plain_http_hosts():
    for entry in builtin_registry().values():
        for url in entry.urls:
            assert url.startswith("https://") or url.startswith(PLAIN_HTTP_HOSTS), (entry.name, url)
    assert "http://vectors.nlpl.eu/repository/" in (ROOT / "docs" / "original-weights.md").read_text(encoding="utf-8")


def test_the_44_elmoformanylangs_models_are_there_with_spacy_languages():
    import importlib.util

    efml = {e.archive.url: e for e in builtin_registry().values() if e.format == "elmoformanylangs"}
    assert sorted(efml) == sorted(f"http://vectors.nlpl.eu/repository/11/{i}.zip" for i in range(136, 180))
    for entry in efml.values():
        assert entry.name == f"efml-{entry.name[5:]}" and entry.language
        assert entry.lang == "xx" or importlib.util.find_spec(f"spacy.lang.{entry.lang}") is not None, entry.name
    by_id = {int(url.rsplit("/", 1)[1][:-4]): e for url, e in efml.items()}
    assert (by_id[136].lang, by_id[142].lang, by_id[144].lang, by_id[165].lang, by_id[164].lang, by_id[179].lang) == (
        "ar", "de", "en", "nb", "nl", "zh")


def test_the_named_models_of_the_issue_are_there():
    entries = builtin_registry()
    for name in ("allennlp-en-small", "allennlp-en-medium", "allennlp-en-original", "allennlp-en-5.5b",
                 "allennlp-en-pubmed", "allennlp-pt-wikipedia", "tsystems-de", "nlpl-en-209", "nlpl-de-201",
                 "nlpl-sv-202", "nlpl-la-203", "nlpl-ru-195", "nlpl-ru-196", "nlpl-no-210", "nlpl-no-211",
                 "nlpl-no-217", "nlpl-no-218"):
        assert name in entries, name
    german = entries["tsystems-de"]
    assert german.files["weights.hdf5"].md5 == "f3ab3a68caae6d42bac47c230b3a65bf"
    assert german.files["options.json"].sha1 == "04afb8bc77acf5e65633ced2efc1e91d05332e89"
    assert german.publisher_pin == "md5+sha1"
    assert entries["allennlp-en-5.5b"].files["weights.hdf5"].url.endswith(
        "/2x4096_512_2048cnn_2xhighway_5.5B/elmo_2x4096_512_2048cnn_2xhighway_5.5B_weights.hdf5")


def test_a_user_registry_adds_and_overrides(registry):
    path = registry({
        "my-model": {"lang": "de", "format": "allennlp", "files": {
            "options.json": {"url": "https://mirror.example/o.json", "sha256": "A" * 64},
            "weights.hdf5": {"url": "https://mirror.example/w.hdf5"}}},
        "efml-de": {"lang": "de", "format": "elmoformanylangs", "archive": {"url": "https://mirror.example/142.zip"},
                    "subfolder": "de.model"},
    })
    entries = load_registry()
    assert entries["my-model"].files["options.json"].sha256 == "a" * 64 and entries["my-model"].origin.startswith(str(path))
    assert entries["efml-de"].archive.url == "https://mirror.example/142.zip" and entries["efml-de"].subfolder == "de.model"
    assert "allennlp-en-original" in entries


@pytest.mark.parametrize("entry, problem", [
    ({"lang": "de", "format": "allennlp"}, "exactly one of 'files'"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "https://x.example/a.zip"}, "files": {}}, "exactly one"),
    ({"lang": "de", "format": "bert", "archive": {"url": "https://x.example/a.zip"}}, "'format' must be one of"),
    ({"lang": "German", "format": "allennlp", "archive": {"url": "https://x.example/a.zip"}}, "spaCy language code"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "ftp://x.example/a.zip"}}, "http\\(s\\) URL"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "https://x.example/a.zip", "sha256": "123"}}, "64 hex digits"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "https://x.example/a.zip"}, "subfolder": "../up"}, "without '..'"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "https://x.example/a.rar"}}, "must end with"),
    ({"lang": "de", "format": "allennlp", "archive": {"url": "https://x.example/a.zip"}, "sha256": "x"}, "unknown field"),
    ({"lang": "de", "format": "allennlp", "files": {"../options.json": {"url": "https://x.example/o.json"},
                                                    "w.hdf5": {"url": "https://x.example/w.hdf5"}}}, "plain file name"),
    ({"lang": "de", "format": "allennlp", "files": {"w.hdf5": {"url": "https://x.example/w.hdf5"}}}, "one options .json"),
    ({"lang": "de", "format": "elmoformanylangs", "files": {"a.json": {"url": "https://x.example/a"}}}, "give 'archive'"),
])
def test_a_malformed_user_entry_is_an_error_naming_the_file_and_the_entry(registry, entry, problem):
    path = registry({"bad-one": entry})
    with pytest.raises(RegistryError, match=problem) as err:
        load_registry()
    assert str(path) in str(err.value) and "'bad-one'" in str(err.value)


def test_an_unreadable_or_missing_registry_file_is_a_clear_error(registry, monkeypatch, tmp_path):
    path = registry({})
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegistryError, match="not readable JSON"):
        load_registry()
    monkeypatch.setenv("SPACY_ELMO_REGISTRY", str(tmp_path / "nope.json"))
    with pytest.raises(RegistryError, match="does not exist.*SPACY_ELMO_REGISTRY"):
        load_registry()
    registry({"Bad Name": {}})
    with pytest.raises(RegistryError, match="lower-case"):
        load_registry()


def test_the_listing_shows_every_builtin_model_and_marks_plain_http(cli):
    result = cli("models")
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip() and not line.startswith(" ")}
    assert set(builtin_registry()) <= set(rows)
    assert "plain http" in rows["efml-de"] and "plain http" not in rows["allennlp-en-original"]
    assert "publisher md5+sha1" in rows["tsystems-de"] and "BSD-2-Clause" in rows["tsystems-de"]
    assert cli("models", "--lang", "pt").stdout.count("\n") < 10
