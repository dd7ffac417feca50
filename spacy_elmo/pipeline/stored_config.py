"""What a pipeline's ``config.cfg`` says about an "elmo" component: the current settings only.

spaCy stores each component's filled config (``nlp.config``, written to ``config.cfg`` by
``to_disk`` and ``spacy train``) right after the factory returns, with every parameter of the
factory's signature. The older splitting settings (``split_sentences``, ``window_size``,
``window_overlap``) must stay in that signature so that old configs validate, so left alone
every saved config would carry them (as nulls, or beside a ``split`` block they override).
Instead, the stored config of every "elmo" component is rewritten as it is stored: the older
keys are dropped and ``split`` holds the block they meant (or the default block). The factory
has already refused a ``split`` block that disagrees with them.

spaCy has no public hook for this; it keeps the stored configs in the dict ``nlp._pipe_configs``,
which :func:`keep_stored_configs_current` replaces by a dict that rewrites on assignment.
``tests/pipeline/test_configs.py`` checks a saved config, so a spaCy that stores them elsewhere
is noticed.
"""
from __future__ import annotations

from typing import Any, Dict

from ..layers.splitting import DEFAULT_SPLITTER, splitter_from_legacy
from .settings import LEGACY_SETTINGS

FACTORY = "elmo"


def current_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` (a stored "elmo" component config) without the older keys, with its ``split`` block."""
    legacy = {name: config.get(name) for name in LEGACY_SETTINGS}
    if config.get("split") is not None and all(name not in config for name in LEGACY_SETTINGS):
        return config
    if any(value is not None for value in legacy.values()):
        split = splitter_from_legacy(**legacy).config
    elif config.get("split") is not None:
        split = config["split"]
    else:
        split = DEFAULT_SPLITTER.config
    out = type(config)({key: value for key, value in config.items() if key not in LEGACY_SETTINGS})
    out["split"] = split
    return out


class _StoredConfigs(dict):
    """``nlp._pipe_configs`` that stores "elmo" components' configs as :func:`current_config` gives them."""

    def __setitem__(self, name: str, config: Any) -> None:
        if isinstance(config, dict) and config.get("factory") == FACTORY:
            config = current_config(config)
        super().__setitem__(name, config)


def keep_stored_configs_current(nlp: Any) -> None:
    """Make ``nlp`` store "elmo" configs without the older keys (idempotent; see the module docstring)."""
    stored = getattr(nlp, "_pipe_configs", None)
    if isinstance(stored, dict) and not isinstance(stored, _StoredConfigs):
        nlp._pipe_configs = _StoredConfigs(stored)
        for name, config in stored.items():
            nlp._pipe_configs[name] = config
