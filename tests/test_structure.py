"""Issue 14's rules for the package's shape, checked on the source so that they stay true:
layers import only downwards, no import cycles, no long file that mixes concepts, and each of
the concepts that used to be spelled out several times lives in one place."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_elmo"

# Lowest first. A module may import its own layer and those below, never one above.
LAYERS = [
    ("base", ("spacy_elmo", "spacy_elmo.atomic", "spacy_elmo.bilm")),
    ("weights", ("spacy_elmo.models", "spacy_elmo.weights", "spacy_elmo.layer_choice")),
    ("training", ("spacy_elmo.training",)),  # pretraining: no spaCy, never the pipeline
    ("pipeline", ("spacy_elmo.pipeline",)),  # the spaCy component: never training
    ("application", ("spacy_elmo.application",)),
    ("cli", ("spacy_elmo.cli", "spacy_elmo.__main__")),
]
HEIGHT = {"base": 0, "weights": 1, "training": 2, "pipeline": 2, "application": 3, "cli": 4}
SIBLINGS = {"training", "pipeline"}  # same height, but neither imports the other

# Files allowed past ~400 lines because they hold one concept (say which).
ONE_CONCEPT_LONG_FILES = {
    "training/trainer.py": "the training run: setup, loop, checkpoints, the run directory",
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> List[Tuple[str, bool]]:
    """``(imported spacy_elmo module, at module level?)`` for every import in the file, lazy ones too."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.append((full if full in MODULES else target, id(node) in top_level))
        elif isinstance(node, ast.Import):
            out.extend((alias.name, id(node) in top_level) for alias in node.names)
    return [(t, top) for t, top in out if t.startswith("spacy_elmo")]


def layer_of(name: str) -> str:
    best = ""
    found = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
                best, found = prefix, layer
    assert found is not None, name
    return found


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


def test_imports_only_go_downwards_and_nothing_outside_cli_imports_cli():
    wrong = []
    for name in MODULES:
        mine = layer_of(name)
        for target, _ in imports(name):
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if HEIGHT[theirs] > HEIGHT[mine] or (theirs in SIBLINGS and mine in SIBLINGS):
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_files():
    """Module-level imports (the ones run at import time) form no cycle."""
    graph: Dict[str, Set[str]] = {
        name: {t for t, top in imports(name) if top and t in MODULES and t != name} for name in MODULES
    }
    cycles = _cycles(graph)
    assert not cycles, cycles


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_long_file_mixes_concepts():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    unexplained = {f: n for f, n in long.items() if f not in ONE_CONCEPT_LONG_FILES}
    assert not unexplained, f"split these by concept (or say in ONE_CONCEPT_LONG_FILES why not): {unexplained}"
    for f, n in long.items():
        assert n <= MAX_LINES * 1.1, f"{f} has {n} lines: even one concept is better split by now"


# -- each concept in one place ------------------------------------------------------------------------
def source_files() -> Dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}


def defined_in(function: str) -> List[str]:
    pattern = re.compile(rf"^\s*def {function}\(", re.M)
    return sorted(f for f, text in source_files().items() if pattern.search(text))


@pytest.mark.parametrize(
    "function, home",
    [
        ("resolve_weights", "weights.py"),
        ("is_spacy_pipeline_dir", "weights.py"),
        ("parse_layers", "layer_choice.py"),
        ("select_layers", "layer_choice.py"),
        ("mix_coefficients", "layer_choice.py"),
        ("window_spans", "pipeline/splitting.py"),
        ("make_batches", "pipeline/batching.py"),
        ("atomic_path", "atomic.py"),
    ],
)
def test_one_home_per_concept(function, home):
    assert defined_in(function) == [home]


def test_files_are_written_to_a_temporary_name_in_one_place_only():
    """The write-then-rename pattern had 8 copies; now only spacy_elmo/atomic.py renames onto a target."""
    renames = re.compile(r"os\.replace\(|\.replace\(\s*(path|output|out|self\.output)\b|\.rename\(")
    users = sorted(f for f, text in source_files().items() if renames.search(text))
    assert users == ["atomic.py"], users


def test_dead_code_named_by_the_issue_is_gone():
    from spacy_elmo.application import analysis
    from spacy_elmo.bilm import BiLMOptions

    assert not hasattr(analysis, "output_shape")
    assert not hasattr(analysis, "parse_layers")  # layer choice lives in spacy_elmo.layer_choice only
    texts = source_files()
    assert '"cache_size_mb"' not in texts["pipeline/bilm_model.py"]  # no attr written and never read
    # one word each: LSTM layers vs output layers
    assert not hasattr(BiLMOptions(), "n_layers")
    assert BiLMOptions(n_lstm_layers=3).n_output_layers == 4
    assert not [f for f, text in texts.items() if re.search(r"\bn_layers\b", re.sub(r"[\"'`]n_layers[\"'`]|lstm\.n_layers", "", text))]


# -- the one atomic writer ----------------------------------------------------------------------------
def test_atomic_path_leaves_the_old_file_or_the_whole_new_one(tmp_path):
    from spacy_elmo.atomic import atomic_path, write_text

    target = tmp_path / "file.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the ne")
            raise RuntimeError("killed while writing")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_path(target, unique=True) as a, atomic_path(target, unique=True) as b:
        assert a != b  # two writers of one file never share a temporary name
        a.write_text("from a")
        b.write_text("from b")
    assert target.read_text() in ("from a", "from b") and list(tmp_path.iterdir()) == [target]
