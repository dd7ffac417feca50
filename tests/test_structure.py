"""The package's shape, checked on the source so that it stays true (issues 14 and 22; docs/layout.md).

Layers import only downwards; no import cycle at any level (files, lazy imports included, and the
folders of every package); the reference biLM stands without its fast routes; no long file that mixes
concepts; each concept, default and on-disk name has one home; every file is written atomically; the
commands print errors one way; the old public import paths still lead to the same modules."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_elmo"

# Lowest first. A module may import its own layer and those below, never one above.
LAYERS = [
    ("base", ("spacy_elmo.atomic", "spacy_elmo.errors", "spacy_elmo.layout", "spacy_elmo.progress", "spacy_elmo.user_cache")),
    ("bilm", ("spacy_elmo.bilm", "spacy_elmo.layer_choice")),  # layer_choice: plain numpy, so BiLM.embed_sentences(layers=) has the one parser
    ("face", ("spacy_elmo",)),  # the package's own names (BiLM, load_bilm, the errors); nothing imports it
    ("weights", ("spacy_elmo.models", "spacy_elmo.weights", "spacy_elmo.conversion")),
    ("training", ("spacy_elmo.training",)),  # pretraining: no spaCy, never the Thinc layers or the component
    ("layers", ("spacy_elmo.layers",)),  # the Thinc layers: never training, never the component
    ("pipeline", ("spacy_elmo.pipeline",)),  # the spaCy component: never training
    ("application", ("spacy_elmo.application",)),
    ("cli", ("spacy_elmo.cli", "spacy_elmo.__main__")),
]
HEIGHT = {"base": 0, "bilm": 1, "face": 2, "weights": 2, "training": 3, "layers": 3, "pipeline": 4, "application": 5, "cli": 6}
# Pretraining and the spaCy face never import each other, whatever their heights.
APART = {frozenset({"training", "layers"}), frozenset({"training", "pipeline"})}

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


def test_every_import_of_the_package_names_a_module_or_a_name_that_exists():
    """A lazy import of a moved module fails only when its line runs; here it fails at once."""
    import importlib

    missing = []
    for name in MODULES:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        for target, _ in imports(name):
            if target in MODULES:
                continue
            try:
                importlib.import_module(target)
            except ImportError:
                missing.append(f"{name} imports {target}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
                module = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
                if module in MODULES and MODULES[module].name != "__init__.py":
                    defined = module_level_names(MODULES[module].read_text(encoding="utf-8"))
                    defined |= {a.asname or a.name.split(".")[0] for n in ast.parse(MODULES[module].read_text(encoding="utf-8")).body
                                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
                    missing += [f"{name} imports {a.name} from {module}" for a in node.names if a.name not in defined]
    assert not missing, missing


def test_imports_only_go_downwards_and_nothing_outside_cli_imports_cli():
    wrong = []
    for name in MODULES:
        mine = layer_of(name)
        for target, _ in imports(name):
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if HEIGHT[theirs] > HEIGHT[mine] or frozenset({mine, theirs}) in APART:
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_files():
    """No two files import each other, directly or round a loop, not even through an import inside a function."""
    graph: Dict[str, Set[str]] = {name: {t for t, _ in imports(name) if t in MODULES and t != name} for name in MODULES}
    cycles = _cycles(graph)
    assert not cycles, cycles


def test_no_import_cycle_between_the_folders_of_any_package():
    """Inside every package, its files and subfolders (each folder taken whole) import each other in no loop,
    e.g. ``bilm/model.py -> bilm/fast/ -> bilm/lstm.py`` is fine, ``bilm/lstm.py -> bilm/fast/`` would not be."""
    packages = sorted({name for name, path in MODULES.items() if path.name == "__init__.py"})
    found = {}
    for package in packages:
        depth = package.count(".") + 1

        def child(module: str) -> str:
            if module == package or not module.startswith(package + "."):
                return ""
            return ".".join(module.split(".")[: depth + 1])

        graph: Dict[str, Set[str]] = {}
        for name in MODULES:
            a = child(name)
            if not a:
                continue  # outside this package, or its own __init__ (a face that hands names on)
            graph.setdefault(a, set())
            graph[a] |= {b for target, _ in imports(name) if (b := child(target)) and b != a}
        cycles = _cycles(graph)
        if cycles:
            found[package] = cycles
    assert not found, found


def test_the_reference_bilm_stands_without_its_fast_routes():
    """``bilm/fast/`` imports the reference parts; no reference part imports it; only ``bilm/model.py`` (which
    picks a route) and the package face know both. The fast routes never import the model or the formats."""
    fast = {n for n in MODULES if n.startswith("spacy_elmo.bilm.fast")}
    composers = {"spacy_elmo.bilm", "spacy_elmo.bilm.model"}
    wrong = [
        f"{name} imports {target}"
        for name in MODULES
        if name.startswith("spacy_elmo.bilm") and name not in fast and name not in composers
        for target, _ in imports(name)
        if target in fast
    ]
    above = {"spacy_elmo.bilm", "spacy_elmo.bilm.model", "spacy_elmo.bilm.loading", "spacy_elmo.bilm.io_native", "spacy_elmo.bilm.io_original"}
    wrong += [f"{name} imports {target}" for name in fast for target, _ in imports(name) if target in above]
    assert not wrong, wrong


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


def module_level_names(text: str) -> Set[str]:
    """Functions, classes and assigned names at a module's top level."""
    names: Set[str] = set()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def defined_in(name: str) -> List[str]:
    """The files that define ``name`` (a function, class or constant) at their top level."""
    return sorted(f for f, text in source_files().items() if name in module_level_names(text))


LAYOUT_NAMES = sorted(n for n in module_level_names((PACKAGE / "layout.py").read_text(encoding="utf-8")) if n.isupper())


@pytest.mark.parametrize(
    "name, home",
    [
        ("resolve_weights", "weights.py"),
        ("resolve_init", "weights.py"),
        ("is_spacy_pipeline_dir", "weights.py"),
        ("parse_layers", "layer_choice.py"),
        ("select_layers", "layer_choice.py"),
        ("mix_coefficients", "layer_choice.py"),
        ("window_spans", "layers/splitting.py"),
        ("cut_batches", "bilm/batching.py"),
        ("DEFAULT_BATCH_SIZE", "bilm/batching.py"),
        ("DEFAULT_CHUNK_SIZE", "application/bulk.py"),
        ("DocBatch", "layers/batch.py"),
        ("atomic_path", "atomic.py"),
        ("ElmoError", "errors.py"),
        ("progress_bar", "progress.py"),
        ("clean_errors", "cli/_common.py"),
        ("parse_overrides", "training/config.py"),
        ("choose_device", "training/distributed.py"),
        ("export_bilm", "conversion.py"),
        ("run_both", "bilm/fast/threads.py"),
        ("inference_thread_count", "bilm/fast/threads.py"),
        ("install_fork_handler", "bilm/fast/threads.py"),
        ("run_bilstm", "bilm/fast/batched_lstm.py"),
        ("DATA_ATTR", "layers/listener.py"),
    ]
    + [(name, "layout.py") for name in LAYOUT_NAMES],
)
def test_one_home_per_concept(name, home):
    assert defined_in(name) == [home]


def test_file_names_are_spelled_in_layout_only():
    """``"weights.safetensors"``, ``"options.json"``, ... as values live in ``layout.py``; messages may name them."""
    import spacy_elmo.layout as layout

    file_names = {getattr(layout, n) for n in LAYOUT_NAMES if "." in getattr(layout, n)} | {layout.CHECKPOINT_DIR}
    spelled = sorted(
        f"{f}:{node.lineno} {node.value!r}"
        for f, text in source_files().items()
        if f != "layout.py"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Constant) and node.value in file_names
    )
    assert not spelled, spelled


def test_files_are_written_to_a_temporary_name_in_one_place_only():
    """The write-then-rename pattern had 8 copies; now only spacy_elmo/atomic.py renames onto a target."""
    renames = re.compile(r"os\.replace\(|\.replace\(\s*(path|output|out|self\.output)\b|\.rename\(")
    users = sorted(f for f, text in source_files().items() if renames.search(text))
    assert users == ["atomic.py"], users


# Functions that write into a temporary path their caller got from ``atomic_path`` (and why that is so).
WRITES_INTO_A_GIVEN_TEMPORARY = {
    "application/embedding_io.py": {"_merge_hdf5", "_merge_npy_like", "_merge_docbin"},  # PartialRun.merge's tmp
}
PATH_WRITERS = {"write_text", "write_bytes", "savefig"}  # x.write_text(...), fig.savefig(path)
FIRST_ARG_WRITERS = {("torch", "save"): 1, ("numpy", "save"): 0, ("numpy", "savez"): 0, ("numpy", "savez_compressed"): 0,
                     ("srsly", "write_json"): 0, ("srsly", "write_jsonl"): 0, ("srsly", "write_msgpack"): 0,
                     ("h5py", "File"): 0, ("zipfile", "ZipFile"): 0, ("shutil", "copyfile"): 1}


def in_place_writes(relative: str, text: str) -> List[str]:
    """Writes whose target is not a temporary name from ``with atomic_path(...) as NAME`` (or a file opened on
    one). Append mode is allowed: an append-only log is never rewritten."""
    found = []
    allowed_functions = WRITES_INTO_A_GIVEN_TEMPORARY.get(relative, set())

    def is_write_mode(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and isinstance(node.value, str) and ("w" in node.value or "x" in node.value)

    def visit(scope: ast.AST, safe: Set[str]) -> None:
        for node in ast.walk(scope):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    expr, var = item.context_expr, item.optional_vars
                    mentions_safe = any(isinstance(n, ast.Name) and n.id in safe for n in ast.walk(expr))
                    is_atomic = isinstance(expr, ast.Call) and getattr(expr.func, "id", getattr(expr.func, "attr", "")) == "atomic_path"
                    if isinstance(var, ast.Name) and (is_atomic or mentions_safe):
                        safe.add(var.id)

        def target_is_safe(arg: ast.AST) -> bool:
            if isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "str" and arg.args:
                arg = arg.args[0]
            return isinstance(arg, ast.Name) and arg.id in safe

        for node in ast.walk(scope):
            if not isinstance(node, ast.Call):
                continue
            func, target = node.func, None
            if isinstance(func, ast.Attribute) and func.attr in PATH_WRITERS:
                target = node.args[0] if func.attr == "savefig" and node.args else func.value
            elif isinstance(func, ast.Attribute) and func.attr == "open" and node.args and is_write_mode(node.args[0]):
                target = func.value  # path.open("w")
            elif isinstance(func, ast.Name) and func.id == "open" and len(node.args) > 1 and is_write_mode(node.args[1]):
                target = node.args[0]
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                position = FIRST_ARG_WRITERS.get((func.value.id, func.attr))
                if position is not None and len(node.args) > position:
                    if (func.value.id, func.attr) in {("h5py", "File"), ("zipfile", "ZipFile")} and not (
                        len(node.args) > 1 and is_write_mode(node.args[1])
                    ):
                        continue  # opened for reading
                    target = node.args[position]
            elif isinstance(func, ast.Name) and func.id == "save_file" and len(node.args) > 1:
                target = node.args[1]  # safetensors' save_file(tensors, path)
            if target is not None and not target_is_safe(target):
                found.append(f"{relative}:{node.lineno}")

    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in allowed_functions:
            if not any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) and node in ast.walk(p) and p is not node for p in ast.walk(tree)):
                visit(node, set())
    return found


def test_every_file_is_written_to_a_temporary_name_first():
    """Options, vocabularies, configs, the component's cfg, checkpoints, parts, pictures: nobody sees half a file."""
    found = [hit for f, text in source_files().items() if f != "atomic.py" for hit in in_place_writes(f, text)]
    assert not found, f"write these through spacy_elmo.atomic (atomic_path / write_text / write_bytes): {found}"


def test_the_in_place_write_check_sees_one():
    """The check above is not blind: a plain write, or one to the final name beside a temporary one, is caught."""
    bad = """
def save(path, data):
    path.write_text(data)

def save_twice(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(data)
    torch.save(data, path)
    with open(path, "w") as f:
        f.write(data)
"""
    good = """
def save(path, data):
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        numpy.savez(f, data=data)
    with open(path, "a") as log:
        log.write("appended")
"""
    assert len(in_place_writes("x.py", bad)) == 3 and in_place_writes("x.py", good) == []


def test_one_progress_bar_and_one_way_to_print_an_error():
    texts = source_files()
    assert [f for f, text in texts.items() if re.search(r"^\s*(from tqdm|import tqdm)", text, re.M)] == ["progress.py"]
    red = sorted(f for f, text in texts.items() if "colors.RED" in text)
    assert red == ["cli/_common.py"], red
    undecorated = []
    for f, text in texts.items():
        if not f.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef):
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if any(".command" in d for d in decorators) and "clean_errors" not in decorators:
                    undecorated.append(f"{f}:{node.name}")
    assert not undecorated, f"every command prints errors through clean_errors: {undecorated}"


def test_defaults_come_from_one_declaration():
    """The biLM call size and the embed chunk size: the settings object, the library and the CLI share one value."""
    import inspect

    from typer.main import get_command

    from spacy_elmo.application import bulk
    from spacy_elmo.bilm import BiLM
    from spacy_elmo.bilm.batching import DEFAULT_BATCH_SIZE
    from spacy_elmo.cli import app
    from spacy_elmo.cli import embed as _  # noqa: F401 - registers the command
    from spacy_elmo.pipeline import ElmoSettings

    assert ElmoSettings().batch_size is DEFAULT_BATCH_SIZE
    assert inspect.signature(BiLM.embed_sentences).parameters["batch_size"].default is DEFAULT_BATCH_SIZE
    assert inspect.signature(bulk.start_job).parameters["batch_size"].default is DEFAULT_BATCH_SIZE
    params = {p.name: p.default for p in get_command(app).commands["embed"].params}
    assert params["batch_size"] is DEFAULT_BATCH_SIZE and params["chunk_size"] is bulk.DEFAULT_CHUNK_SIZE


def test_old_public_paths_lead_to_the_same_modules():
    """README named these knobs at their old homes; the moved modules answer there too (the same objects)."""
    import importlib

    pairs = [("spacy_elmo.bilm.onednn", "spacy_elmo.bilm.fast.onednn"),
             ("spacy_elmo.bilm.inference_threads", "spacy_elmo.bilm.fast.threads"),
             ("spacy_elmo.pipeline.forking", "spacy_elmo.bilm.fast.threads")]
    for old, new in pairs:
        assert importlib.import_module(old) is importlib.import_module(new), old


def test_entry_points_name_the_new_homes():
    """spaCy finds the factory, the architectures and the splitters where they are defined (registered names never change)."""
    import importlib

    project: Dict[str, Dict[str, str]] = {}  # [project.entry-points.GROUP] name = "module:attr" (tomllib is 3.11+)
    group = None
    for line in (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        header = re.fullmatch(r"\[project\.entry-points\.(\w+)\]", line.strip())
        if header or line.startswith("["):
            group = header.group(1) if header else None
        elif group and "=" in line:
            name, _, target = line.partition("=")
            project.setdefault(group, {})[name.strip().strip('"')] = target.strip().strip('"')
    homes = {"spacy_factories": "spacy_elmo.pipeline.", "spacy_architectures": "spacy_elmo.layers.", "spacy_misc": "spacy_elmo.layers."}
    for group, prefix in homes.items():
        for name, target in project[group].items():
            module, _, attr = target.partition(":")
            assert module.startswith(prefix), (group, name, target)
            assert getattr(importlib.import_module(module), attr).__module__ == module, target


def test_dead_code_named_by_the_issue_is_gone():
    from spacy_elmo.application import analysis
    from spacy_elmo.bilm import BiLMOptions

    assert not hasattr(analysis, "output_shape")
    assert not hasattr(analysis, "parse_layers")  # layer choice lives in spacy_elmo.layer_choice only
    texts = source_files()
    assert '"cache_size_mb"' not in texts["layers/bilm_model.py"]  # no attr written and never read
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
