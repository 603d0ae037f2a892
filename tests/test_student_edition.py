"""The student edition: every exercise on its page, no solution anywhere in the site.

``make test-student`` builds the student edition (``hide_solutions``, the switch ``make
book-student`` sets) with notebook execution off, since hiding solutions does not depend on what
the code prints, and runs this file with ``STUDENT_HTML`` pointing at it and ``SITE_HTML`` at the
full quick-profile site that ``make test-site`` built. For each solution in the sources the test
picks a plain-text phrase of it; the phrase must be on the full site (so the check can see it) and
nowhere on the student site.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT = Path(os.environ.get("STUDENT_HTML", ROOT / "_build" / "student-check" / "_build" /
                              "html"))
FULL = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "site" / "_build" / "html"))
SOURCES = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md"))

pytestmark = pytest.mark.skipif(
    not (STUDENT / "index.html").exists() or not (FULL / "index.html").exists(),
    reason="needs the student and the full site: run `make test-site test-student`")

FENCE = re.compile(r"^(?P<fence>[:`]{3,})\{(?P<kind>solution|exercise)\}[^\n]*\n(?P<body>.*?)"
                   r"^(?P=fence)\s*$", re.M | re.S)
MARKUP = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\{[^}]*\}|[*_\[\]\\\"'’“”—–-]", re.S)


def markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def phrase(body: str) -> str:
    """The longest run of plain words in a box's text (no math, code, roles or punctuation that
    Sphinx rewrites), at most twelve words, so that it can be looked up in the built page."""
    text = "\n".join(line for line in body.splitlines() if not line.startswith(":"))
    runs = [run.split() for run in MARKUP.split(text)]
    best = max(runs, key=len)[:12]
    return " ".join(best).strip(" .,;:()")


def all_boxes(kind: str) -> list[tuple[Path, str]]:
    return [(path, phrase(m["body"])) for path in SOURCES for m in FENCE.finditer(markdown(path))
            if m["kind"] == kind]


def boxes(kind: str) -> list[tuple[Path, str]]:
    """The boxes whose phrase is specific enough to look up (four words or more): a box that is
    mostly mathematics leaves only a few plain words, which could appear anywhere."""
    return [(path, p) for path, p in all_boxes(kind) if len(p.split()) >= 4]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


@cache
def page_text(site: Path, source: Path) -> str:
    parser = _Text()
    parser.feed((site / "book" / f"{source.stem}.html").read_text())
    return " ".join(" ".join(parser.parts).split())


def test_the_book_has_solutions_to_hide():
    """Most solutions can be looked up by a phrase; the rest are covered by the box check below."""
    found, usable = all_boxes("solution"), boxes("solution")
    assert len(found) >= 30, f"only {len(found)} solutions found in the sources"
    assert len(usable) >= 0.9 * len(found), (
        f"only {len(usable)} of {len(found)} solutions have a phrase of four words or more")


@pytest.mark.parametrize("kind", ["exercise", "solution"])
def test_the_full_site_shows_every_box(kind):
    """The control: each phrase is found on the full site, so its absence below means something."""
    missing = [(path.name, p) for path, p in boxes(kind) if p not in page_text(FULL, path)]
    assert not missing, f"{kind} phrases not found on the full site: {missing}"


def test_the_student_edition_keeps_every_exercise():
    missing = [(path.name, p) for path, p in boxes("exercise")
               if p not in page_text(STUDENT, path)]
    assert not missing, f"exercises missing from the student edition: {missing}"


def test_the_student_edition_shows_no_solution():
    shown = [(path.name, p) for path, p in boxes("solution") if p in page_text(STUDENT, path)]
    assert not shown, f"solutions visible in the student edition: {shown}"
    leftovers = [page.name for page in (STUDENT / "book").glob("*.html")
                 if 'class="solution' in page.read_text()]
    assert not leftovers, f"solution boxes in the student edition: {leftovers}"
