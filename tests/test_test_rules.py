"""Rules for the test suite itself: CI never skips what needs ../shared, and no subprocess can hang it."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_pytest(tmp_path, ci):
    """The reference tests (a ``needs_reference`` module that also uses the ``reference_model``
    fixture) with ../shared pointing nowhere, with or without ``CI=true``."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["SPACY_ELMO_SHARED"] = str(tmp_path / "no-shared-here")
    if ci:
        env["CI"] = "true"
    cmd = [sys.executable, "-m", "pytest", "tests/bilm/test_reference.py", "-q", "-rs", "-p", "no:cacheprovider"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_missing_shared_data_is_skipped_locally_with_a_reason(tmp_path):
    proc = run_pytest(tmp_path, ci=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " skipped" in proc.stdout and " passed" not in proc.stdout
    assert "shared data not found" in proc.stdout and "SPACY_ELMO_SHARED" in proc.stdout


@pytest.mark.slow
def test_missing_shared_data_fails_the_run_in_ci(tmp_path):
    proc = run_pytest(tmp_path, ci=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode not in (0, 5), output[-3000:]  # 5: nothing collected, also not a pass
    assert "CI=true, but" in output and "no-shared-here" in output and " skipped" not in output


def calls_without_timeout(path: Path):
    """``subprocess.run/call/check_call/check_output(...)`` and ``.wait()/.communicate()`` without ``timeout``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    needing = {"run", "call", "check_call", "check_output", "wait", "communicate"}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in needing):
            continue
        owner = node.func.value
        is_subprocess = isinstance(owner, ast.Name) and owner.id == "subprocess"
        is_process = node.func.attr in {"wait", "communicate"} and isinstance(owner, ast.Name) and owner.id in {"proc", "process", "child"}
        if (is_subprocess or is_process) and not any(k.arg == "timeout" for k in node.keywords):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_subprocess_in_the_tests_has_a_timeout():
    """A hung child (a deadlocked worker, a prompt) must fail its test, not stall CI for hours."""
    missing = [hit for path in sorted(TESTS.rglob("*.py")) for hit in calls_without_timeout(path)]
    assert not missing, f"subprocess calls without timeout=: {missing}"


# -- the fast local subset: python -m pytest tests -m "not slow" --------------------------------------
SPAWNERS = {("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "check_call"), ("subprocess", "check_output")}


def _spawns(node: ast.AST, helpers: set) -> bool:
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (func.value.id, func.attr) in SPAWNERS:
            return True
        if isinstance(func, ast.Name) and func.id in helpers:
            return True
    return False


def _marked_slow(decorators) -> bool:
    return any("mark.slow" in ast.unparse(d) for d in decorators)


def unmarked_spawning_tests(path: Path):
    """Tests that start another process (a Python with torch: seconds each), themselves or through a helper
    or fixture of their module, without ``@pytest.mark.slow`` (on the test or as the module's ``pytestmark``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_slow = any(
        isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets) and "slow" in ast.unparse(n.value)
        for n in tree.body
    )
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    helpers: set = set()
    for _ in range(3):  # helpers that call helpers
        helpers |= {name for name, f in functions.items() if not name.startswith("test_") and _spawns(f, helpers)}
    found = []
    for name, f in functions.items():
        if not name.startswith("test_") or module_slow or _marked_slow(f.decorator_list):
            continue
        uses_spawning_fixture = any(a.arg in helpers for a in f.args.args)
        if _spawns(f, helpers) or uses_spawning_fixture:
            found.append(f"{path.relative_to(ROOT)}::{name}")
    return found


def test_tests_that_start_processes_are_marked_slow():
    """``-m "not slow"`` is the fast local subset; CI runs everything (``python -m pytest tests``)."""
    found = [hit for path in sorted(TESTS.rglob("test_*.py")) for hit in unmarked_spawning_tests(path)]
    assert not found, f"mark these @pytest.mark.slow (they start a process): {found}"


@pytest.mark.slow
def test_the_fast_subset_is_selectable_and_smaller():
    def collected(*args):
        cmd = [sys.executable, "-m", "pytest", "tests", "--collect-only", "-q", "-p", "no:cacheprovider", *args]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
        return {line for line in out.splitlines() if "::" in line}

    everything, fast = collected(), collected("-m", "not slow")
    assert fast and fast < everything
    assert not any("tests/projects/test_smoke.py" in t for t in fast)  # whole workflows are never in the fast subset

