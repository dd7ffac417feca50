"""Issue 28, part 6: the docs' table of the component's settings, and the memory section's default sizes,
cannot go stale: both are checked against the code that declares them."""
from __future__ import annotations

import json
import re
import typing

import pytest
import spacy

from spacy_elmo.bilm.model import DEFAULT_TOKEN_CACHE_MB
from spacy_elmo.layers.cache import DEFAULT_CACHE_SIZE_MB
from spacy_elmo.layers.splitting import Splitter
from spacy_elmo.pipeline.settings import ElmoSettings
from tests.helpers import ROOT

MARK = "<!-- settings-table -->"


def table_rows() -> typing.Dict[str, typing.Tuple[str, str, str]]:
    """``{setting: (type, default, meaning)}`` from the table after MARK in docs/usage.md."""
    text = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    assert text.count(MARK) == 1, f"docs/usage.md needs exactly one {MARK} before the settings table"
    lines = text.split(MARK, 1)[1].strip().splitlines()
    rows = {}
    for line in lines[2:]:  # after the header and its rule
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4, f"a row of four cells: {line}"
        name = cells[0].strip("`")
        assert name not in rows, f"{name} twice in the table"
        rows[name] = (cells[1], cells[2].strip("`"), cells[3])
    return rows


def type_words(hint) -> str:
    """How the table names a type."""
    words = {str: "str", int: "int", float: "float", bool: "bool", Splitter: "block", typing.List[float]: "list of floats"}
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if hint in words:
        return words[hint]
    if typing.get_origin(hint) is typing.Union:
        names = [type_words(a) for a in args]
        text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return text + (" or null" if type(None) in typing.get_args(hint) else "")
    raise AssertionError(f"add {hint} to type_words")


def default_words(value) -> str:
    if isinstance(value, dict):  # a block: its registered function
        return next(v for k, v in value.items() if k.startswith("@"))
    return json.dumps(value)


@pytest.fixture(scope="module")
def default_config():
    return dict(spacy.blank("en").get_factory_meta("elmo").default_config)


def test_the_table_has_every_setting_in_the_factorys_order(default_config):
    assert list(table_rows()) == list(default_config), "docs/usage.md's settings table differs from the factory's default_config"


def test_every_default_in_the_table_is_the_factorys(default_config):
    rows = table_rows()
    wrong = {name: (rows[name][1], default_words(value)) for name, value in default_config.items() if rows[name][1] != default_words(value)}
    assert not wrong, f"table default vs factory default: {wrong}"


def test_every_type_in_the_table_is_the_declared_one():
    hints = typing.get_type_hints(ElmoSettings)
    hints["split"] = typing.Optional[Splitter]  # null in the factory's config: not given (ElmoSettings.default_config)
    rows = table_rows()
    wrong = {name: (rows[name][0], type_words(hint)) for name, hint in hints.items() if rows[name][0] != type_words(hint)}
    assert not wrong, f"table type vs declared type: {wrong}"
    assert rows["model"][0] == "block"


def test_every_row_says_what_the_setting_means():
    assert all(len(meaning) > 20 for _, _, meaning in table_rows().values())


def test_the_memory_section_states_the_default_sizes():
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    section = text.split("## Memory: every cache and copy", 1)[1]
    layer_cache = f"up to **{DEFAULT_CACHE_SIZE_MB:g} MB**" if DEFAULT_CACHE_SIZE_MB else "**off** (`DEFAULT_CACHE_SIZE_MB = 0`"
    assert layer_cache in section and f"up to **{DEFAULT_TOKEN_CACHE_MB:g} MB**" in section
    summary = f"up to {DEFAULT_CACHE_SIZE_MB:g} MB" if DEFAULT_CACHE_SIZE_MB else "off by default"
    assert f"the layer cache,\n  {summary}" in text and f"the token cache, up to {DEFAULT_TOKEN_CACHE_MB:g} MB" in text
    for setting in ("cache_size_mb", "token_cache.max_mb", "onednn.ENABLED", "fast_inference"):
        assert f"{setting}" in section, f"the memory section does not say how to change {setting}"
    stated = set(re.findall(r"`cache_size_mb`, (\d+) by default", (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")))
    assert stated <= {f"{DEFAULT_CACHE_SIZE_MB:g}"}, stated
