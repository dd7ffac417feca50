"""Issue 28, part 6: the README says how to install from a fresh clone and from the wheel, and what it says
matches the project (its name as a wheel file, an editable install at the clone's root)."""
import re
import tomllib

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def project_name() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def test_a_fresh_clone_is_installed_at_its_root():
    blocks = [b for b in BLOCKS if "git clone" in b]
    assert blocks, "the README has no install from a fresh clone (git clone ...)"
    lines = blocks[0].splitlines()
    clone = next(i for i, line in enumerate(lines) if "git clone" in line)
    assert "cd " in lines[clone], "cd into the clone, where `pip install -e .` finds pyproject.toml"
    assert any(re.search(r'pip install -e "?\.(\[|"|\s|$)', line) for line in lines[clone + 1 :])


def test_the_wheel_line_names_the_file_that_python_m_build_writes():
    wheel = project_name().replace("-", "_")  # the wheel's file name normalizes the project's name
    assert any(f"pip install dist/{wheel}-*-py3-none-any.whl" in block for block in BLOCKS), (
        f"the README has no `pip install dist/{wheel}-*-py3-none-any.whl`"
    )
    assert "python -m build" in README
