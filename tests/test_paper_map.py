"""The map from the paper to the book (emergence.paper_map) names only what exists."""

import json
import re
from pathlib import Path

import pytest

from emergence import experiments, paper_map
from emergence.store import PACKAGE_DIR

BOOK = PACKAGE_DIR.parents[1] / "book"


def source(chapter: str) -> Path:
    """The file of a chapter; StopIteration (a failed test) if it has none."""
    return next(p for p in (BOOK / f"{chapter}.ipynb", BOOK / f"{chapter}.md") if p.exists())


def anchors(chapter: str) -> set[str]:
    """The section headings and ``:label:`` names of a chapter (a notebook or a MyST page)."""
    path = source(chapter)
    text = path.read_text() if path.suffix == ".md" else "\n".join(
        "".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
        if cell["cell_type"] == "markdown")
    return set(re.findall(r"^#+ (.+?)\s*$", text, re.M)) | set(
        re.findall(r":label: (\S+)", text))


@pytest.mark.parametrize("item", paper_map.ITEMS, ids=lambda i: i.item)
def test_every_item_points_at_a_section_that_exists(item):
    assert item.anchor in anchors(item.chapter), f"{item.item}: no {item.anchor!r}"
    assert item.status in paper_map.STATUSES
    assert item.status == "full" or item.note, f"{item.item}: a partial item says why"
    assert set(item.needs) <= set(experiments.names(stored_only=True))
    assert item.paper in paper_map.PAPERS


def test_every_paper_has_items_and_an_unknown_paper_is_refused():
    assert all(paper_map.table(paper=key) for key in paper_map.PAPERS)
    with pytest.raises(ValueError, match="paper must be one of"):
        paper_map.table(paper="nam2024")


def test_every_figure_and_table_of_the_paper_is_mapped():
    named = {i.item.split("(")[0].strip() for i in paper_map.ITEMS
             if i.paper == paper_map.MAIN_PAPER}
    assert {f"Fig. {n}" for n in range(1, 13)} <= named
    assert {f"Table {n}" for n in range(1, 7)} <= named
    assert {"Theorem 1", "Theorem 4", "Theorem 5", "Proposition 1", "Proposition 2"} <= named
    assert {f"Corollary {n}" for n in range(1, 6)} <= named


def test_an_item_whose_run_is_missing_is_shown_as_partial(tmp_path):
    rows = {row[0]: row for row in paper_map.table(root=tmp_path)}  # an empty store
    assert rows["Fig. 1(a)"][3] == "partial" and "mlp_time" in rows["Fig. 1(a)"][4]
    assert rows["Fig. 2(a)"][3] == "full"
