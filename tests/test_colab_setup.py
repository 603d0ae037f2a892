"""The Colab set-up cell of every chapter: the right repository, and an install only when needed.

The repository's address lives in one place, ``repository.url`` in ``_config.yml`` (it also builds
the launch buttons); each notebook's first code cell must clone exactly that address, and only
inside ``except ImportError`` after ``import emergence`` failed. One test runs a chapter's
set-up cell for real in a fresh virtual environment that lacks the package, with the clone and the
install pointed at this checkout so no network is needed, then runs the chapter's second cell.
Two faster tests run the cell in this process with the package hidden: a clone that fails (as it
does while the repository is not public) must end in an error that says what to do, and a copy of
the book already at the clone's place must be installed without cloning.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
REPO_URL = REPOSITORY["url"]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CLONE = "/content/emergence-book"


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_repository_is_a_github_repository_on_main():
    """Colab opens notebooks from GitHub; the launch buttons point at the main branch."""
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL), REPO_URL
    assert REPOSITORY["branch"] == "main"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_clones_the_configured_repository(path):
    setup = code_cells(path)[0]
    urls = re.findall(r"https?://[^\s\"']+", setup)
    assert urls == [REPO_URL], f"{path.name}: set-up cell names {urls}, _config.yml says {REPO_URL}"
    other = [u for cell in code_cells(path)[1:] for u in re.findall(r"github\.com/[^\s\"']+", cell)]
    assert not other, f"{path.name}: only the set-up cell may name the repository, found {other}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_only_when_the_import_fails(path):
    tree = ast.parse(code_cells(path)[0])
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Try), (
        f"{path.name}: the set-up cell must be a single try/except")
    attempt = tree.body[0]
    assert [ast.unparse(node) for node in attempt.body] == ["import emergence"], (
        f"{path.name}: the try block must only import emergence")
    assert [ast.unparse(h.type) for h in attempt.handlers] == ["ImportError"], (
        f"{path.name}: the install must sit under `except ImportError`")
    handler = ast.unparse(attempt.handlers[0])
    assert "git" in handler and "pip" in handler and handler.rstrip().endswith(
        "import emergence"), f"{path.name}: the handler must clone, install, then import"
    assert not attempt.orelse and not attempt.finalbody


def first_chapter() -> Path:
    toc = (ROOT / "_toc.yml").read_text()
    for entry in re.findall(r"file:\s*(book/\d\d_\S+)", toc):
        if (ROOT / f"{entry}.ipynb").exists():
            return ROOT / f"{entry}.ipynb"
    pytest.skip("no chapter notebook exists yet")


def local_setup_cell(setup: str, clone: Path, source: str = f"file://{ROOT}") -> str:
    """The set-up cell cloning `source` (this checkout) into `clone`, with the install offline."""
    replacements = {
        f'"{REPO_URL}"': f'"{source}"',
        f'"{CLONE}': f'"{clone}',
        '"-e",': '"--no-deps", "--no-build-isolation", "-e",',
    }
    for old, new in replacements.items():
        assert old in setup, f"the set-up cell no longer contains {old}"
        setup = setup.replace(old, new)
    return setup


def test_setup_cell_installs_the_book_into_a_fresh_environment(tmp_path):
    """Colab's situation: the package is missing; the cell must clone, install and import it."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to clone from")
    notebook = first_chapter()
    setup, second = code_cells(notebook)[:2]
    env_dir, clone = tmp_path / "venv", tmp_path / "emergence-book"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    # The fresh environment sees this one's libraries (numpy, torch, pip, setuptools) as a plain
    # path, so the editable install of `emergence` here (a .pth file) is not picked up there.
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "book_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = tmp_path / "chapter.py"
    script.write_text("\n".join([
        "import importlib.util, sys",
        "assert importlib.util.find_spec('emergence') is None, 'emergence already importable'",
        local_setup_cell(setup, clone),
        "\n".join(line for line in second.splitlines() if not line.lstrip().startswith("%")),
        "print('EMERGENCE_AT', emergence.__file__)",
    ]))
    env = {**os.environ, "EMERGENCE_PROFILE": "quick", "MPLBACKEND": "Agg"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(env_dir / "bin" / "python"), str(script)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    location = result.stdout.split("EMERGENCE_AT", 1)[1].strip()
    assert Path(location).is_relative_to(clone), f"emergence was imported from {location}"


def run_setup_cell_without_the_package(cell: str, monkeypatch) -> None:
    """Run a set-up cell here, with `import emergence` failing as it does on a fresh Colab."""
    monkeypatch.setitem(sys.modules, "emergence", None)  # makes the import raise ImportError
    exec(compile(cell, "set-up cell", "exec"), {})


def test_setup_cell_says_what_to_do_when_the_clone_fails(tmp_path, monkeypatch):
    """Until the repository is public its clone fails; the error must tell the reader what to do."""
    clone = tmp_path / "emergence-book"
    cell = local_setup_cell(code_cells(first_chapter())[0], clone,
                            source=str(tmp_path / "no-such-repository"))
    with pytest.raises(RuntimeError) as failure:
        run_setup_cell_without_the_package(cell, monkeypatch)
    message = str(failure.value)
    for advice in ("set REPO", "fork or mirror", f"copy of the book to {clone}", "rerun this cell"):
        assert advice in message, f"the error does not say {advice!r}: {message}"


def test_setup_cell_installs_a_copy_already_in_place(tmp_path, monkeypatch):
    """A copy of the book already where the clone would go (uploaded, say) is not cloned over."""
    clone = tmp_path / "emergence-book"
    clone.mkdir()
    commands = []

    class Stop(Exception):
        pass

    def record(command, **kwargs):
        commands.append(command)
        raise Stop  # the install would follow; stopping here keeps this environment as it is

    monkeypatch.setattr(subprocess, "run", record)
    cell = local_setup_cell(code_cells(first_chapter())[0], clone,
                            source=str(tmp_path / "no-such-repository"))
    with pytest.raises(Stop):
        run_setup_cell_without_the_package(cell, monkeypatch)
    assert "git" not in commands[0] and "pip" in commands[0] and str(clone) in commands[0], (
        f"the first command should install the copy in place, not clone: {commands}")
