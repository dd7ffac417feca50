"""The install instructions are true: the Python floor matches torch's, and every torch install in the
README gets the CPU build (a plain ``pip install torch`` on Linux pulls the CUDA build)."""
import re
from importlib.metadata import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def python_floor(spec: str) -> tuple:
    """``">=3.10"`` -> ``(3, 10)``."""
    match = re.search(r">=\s*(\d+)\.(\d+)", spec)
    assert match, f"no lower bound in {spec!r}"
    return int(match.group(1)), int(match.group(2))


def requires_python() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.M).group(1)


def test_python_floor_is_torchs():
    ours, torchs = python_floor(requires_python()), python_floor(metadata("torch")["Requires-Python"])
    assert ours >= torchs, f"pyproject says Python {ours}+, but the installed torch needs {torchs}+"


def test_readme_states_the_same_python_floor():
    major, minor = python_floor(requires_python())
    stated = set(re.findall(r"Python (\d+\.\d+)\+", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert stated == {f"{major}.{minor}"}, stated


def test_every_torch_install_command_in_the_readme_gets_the_cpu_build():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    blocks = re.findall(r"```bash\n(.*?)```", readme + docs, re.S)
    commands = [cmd for block in blocks for line in block.splitlines() for cmd in line.split("&&")
                if re.search(r"pip install (\S+ )*torch\b", cmd)]
    assert len(commands) >= 2  # the two commands of "Set-up", and the Quickstart
    assert all(CPU_INDEX in cmd for cmd in commands), [c for c in commands if CPU_INDEX not in c]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert len(ci_lines) == 1 and ci_lines[0].strip() in readme
