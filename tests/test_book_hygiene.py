"""The book's own hygiene: the table of contents and the notebooks agree, notebooks are stored
clean (no outputs, the python3 kernel, code that fits the page, a Colab set-up cell that installs
only if needed), and each chapter opens by saying what it needs and what it teaches."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def toc_files() -> set[str]:
    text = (ROOT / "_toc.yml").read_text()
    return set(re.findall(r"(?:file|root):\s*(\S+)", text))


def notebooks() -> list[Path]:
    return sorted(BOOK.glob("*.ipynb"))


def test_every_notebook_is_in_the_toc():
    listed = toc_files()
    missing = [nb.name for nb in notebooks() if f"book/{nb.stem}" not in listed]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"


def test_every_toc_entry_exists():
    absent = [entry for entry in toc_files()
              if not any((ROOT / f"{entry}{ext}").exists() for ext in (".ipynb", ".md"))]
    assert not absent, f"_toc.yml lists files that do not exist: {absent}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name} has execution counts"


def book_sources() -> list[Path]:
    return sorted([*BOOK.glob("*.ipynb"), *BOOK.glob("*.md"), ROOT / "README.md"])


@pytest.mark.parametrize("path", book_sources(), ids=lambda p: p.name)
def test_page_has_no_control_characters(path):
    """A stray carriage return or other control character (a ``\\r`` in ``$R_{\\rm bi}$`` written
    from a Python string without escaping it) breaks the line and the formula on the site."""
    text = path.read_bytes().decode("utf-8")
    bad = sorted({f"U+{ord(c):04X} in line {text.count(chr(10), 0, i) + 1}"
                  for i, c in enumerate(text) if ord(c) < 32 and c not in "\n\t"})
    assert not bad, f"{path.name}: control characters: {bad}"


PAGE_WIDTH = 88  # code wider than this scrolls sideways on the site


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_code_fits_the_page(path):
    nb = json.loads(path.read_text())
    wide = [line for cell in nb["cells"] if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > PAGE_WIDTH]
    assert not wide, f"{path.name}: code lines over {PAGE_WIDTH} columns: {wide}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_starts_with_conditional_colab_setup(path):
    nb = json.loads(path.read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    setup = "".join(code_cells[0]["source"])
    assert "remove-cell" in code_cells[0]["metadata"].get("tags", [])
    assert "import emergence" in setup and "except ImportError" in setup, (
        f"{path.name}: the first code cell must install the package only when it is missing")


@pytest.mark.parametrize("path", [BOOK / f"{stem}.ipynb" for stem in re.findall(
    r"file:\s*book/(\d\d_\S+)", (ROOT / "_toc.yml").read_text())], ids=lambda p: p.name)
def test_notebook_ends_with_summary_and_exercises(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"^#+ Summary", text, re.M), f"{path.name} has no Summary section"
    assert re.search(r"^#+ Exercises", text, re.M), f"{path.name} has no Exercises section"
    n_exercises = len(re.findall(r":{3,}\{exercise\}", text))
    n_solutions = len(re.findall(r":{3,}\{solution\}", text))
    assert n_exercises >= 3, f"{path.name} has fewer than 3 exercises"
    assert n_solutions >= n_exercises, (
        f"{path.name}: every exercise needs a solution")


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_opens_with_its_title(path):
    """The page starts with the chapter's title, before any code or output."""
    first = json.loads(path.read_text())["cells"][0]
    assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# "), (
        f"{path.name}: the first cell must be the markdown title")


def chapters() -> list[str]:
    """Chapter notebooks (stems) in reading order, as _toc.yml lists them."""
    return re.findall(r"file:\s*book/(\d\d_\S+)", (ROOT / "_toc.yml").read_text())


@pytest.mark.parametrize("stem", chapters())
def test_chapter_says_what_it_needs_and_teaches(stem):
    """The first markdown cell tells a reader what to know first and what they will learn.

    It holds a "**You will need:**" paragraph, which links at least one earlier chapter (except
    in the first chapter) and only earlier ones, and a "**You will be able to:**" paragraph.
    """
    cells = json.loads((BOOK / f"{stem}.ipynb").read_text())["cells"]
    first = next("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    needs = re.search(r"^\*\*You will need:\*\*(.+?)(?:\n\n|\Z)", first, re.M | re.S)
    assert needs, f"{stem}: no '**You will need:**' paragraph in the first markdown cell"
    assert re.search(r"^\*\*You will be able to:\*\* \S", first, re.M), (
        f"{stem}: no '**You will be able to:**' paragraph in the first markdown cell")
    order = chapters()
    linked = re.findall(r"\]\((\d\d_[\w]+)\.ipynb\)", needs.group(1))
    later = [link for link in linked if link not in order[:order.index(stem)]]
    assert not later, f"{stem}: 'You will need' links chapters that are not earlier: {later}"
    assert linked or stem == order[0], f"{stem}: 'You will need' links no earlier chapter"


def test_teaching_page_sorts_every_exercise_once():
    """The teaching page's homework and exam lists name each exercise of the book exactly once."""
    from emergence import course

    page = "\n".join("".join(c["source"]) for c in json.loads(
        (BOOK / "teaching.ipynb").read_text())["cells"] if c["cell_type"] == "markdown")
    listed = re.findall(r"\{ref\}`(ex-[\w-]+)`", page)
    exercises = [label for chapter in course.chapters() for label in chapter.exercises]
    assert sorted(listed) == sorted(exercises), (
        f"not listed: {sorted(set(exercises) - set(listed))}, "
        f"not exercises: {sorted(set(listed) - set(exercises))}, "
        f"listed twice: {sorted({x for x in listed if listed.count(x) > 1})}")
