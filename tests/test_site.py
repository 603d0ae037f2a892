"""The built book as readers meet it: every page of the site opened in headless Chromium.

``make test-site`` builds the site in the quick profile and runs this file with ``SITE_HTML``
pointing at it (``make test`` runs both). Each page must load without console errors, have its
math typeset by MathJax, show every figure, render its theorem, proof and exercise boxes, link only
to pages and anchors that exist, and (for a chapter) offer the Colab launch button for its own
notebook on the ``main`` branch. A screenshot of each page goes to ``_build/screenshots/``. Every
interactive figure must respond to each of its sliders, moved with the mouse, without errors.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent / "site"))

import book_server  # noqa: E402 (a helper beside this file, found through the path above)
import browser  # noqa: E402

SITE = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html")).resolve()
MATHJAX_DIR = Path(os.environ.get(
    "MATHJAX_DIR", ROOT / ".venv" / "site-tools" / "node_modules" / "mathjax" / "es5"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())



# ---- what the book should contain, read from the sources --------------------------------------

def toc_pages() -> list[dict]:
    """Every page in reading order: its toc entry, the part caption, and whether it is numbered."""
    pages = [{"file": TOC["root"], "caption": None, "numbered": False}]
    for part in TOC["parts"]:
        for chapter in part["chapters"]:
            pages.append({"file": chapter["file"], "caption": part["caption"],
                          "numbered": bool(part.get("numbered"))})
    for page in pages:
        page["source"] = next((ROOT / f"{page['file']}{ext}" for ext in (".ipynb", ".md")
                               if (ROOT / f"{page['file']}{ext}").exists()), None)
        page["html"] = SITE / f"{page['file']}.html"
    return pages


PAGES = toc_pages()


def source_cells(path: Path) -> list[dict]:
    """The cells of a notebook; a Markdown page counts as one markdown cell."""
    if path.suffix == ".md":
        return [{"cell_type": "markdown", "source": path.read_text(), "metadata": {}}]
    cells = json.loads(path.read_text())["cells"]
    return [{**c, "source": "".join(c["source"])} for c in cells]


def markdown_text(path: Path) -> str:
    return "\n".join(c["source"] for c in source_cells(path) if c["cell_type"] == "markdown")


def directive_counts(path: Path) -> dict[str, int]:
    """How many of each box directive (prf:*, exercise, solution) the source opens."""
    counts: dict[str, int] = {}
    for name in re.findall(r"^[:`]{3,}\{((?:prf:)?\w+)\}", markdown_text(path), re.M):
        counts[name] = counts.get(name, 0) + 1
    return counts


def shows_figure(source: str) -> bool:
    """Whether running the cell calls ``plt.show()`` (a call inside a definition does not count)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    pending = list(ast.parse(code).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "plt.show":
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def figure_cells(path: Path) -> int:
    """Code cells that show a figure and whose output is not removed from the page."""
    hidden = {"remove-cell", "remove-output", "remove_cell", "remove_output"}
    return sum(1 for c in source_cells(path) if c["cell_type"] == "code"
               and shows_figure(c["source"])
               and not hidden & set(c.get("metadata", {}).get("tags", [])))


def shows_explorer(source: str) -> bool:
    """Whether a cell ends with a call to ``interactive.…``: its output is a slider figure."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    body = ast.parse(code).body
    return bool(body) and isinstance(body[-1], ast.Expr) and isinstance(body[-1].value, ast.Call) \
        and ast.unparse(body[-1].value.func).startswith("interactive.")


def explorer_cells(path: Path) -> int:
    """Code cells whose output is an interactive figure that the page shows."""
    hidden = {"remove-cell", "remove-output", "remove_cell", "remove_output"}
    return sum(1 for c in source_cells(path) if c["cell_type"] == "code"
               and shows_explorer(c["source"])
               and not hidden & set(c.get("metadata", {}).get("tags", [])))


def colab_url(page: dict) -> str:
    """The launch button's address for a page's notebook, from ``repository`` in _config.yml."""
    repo = urlsplit(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"]["branch"]
    relative = page["source"].relative_to(ROOT).as_posix()
    return f"{CONFIG['launch_buttons']['colab_url']}/github/{repo}/blob/{branch}/{relative}"


# ---- the site on disk -------------------------------------------------------------------------

class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


@cache
def anchors(path: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def broken_links(page_url: str, base_url: str, hrefs: list[str]) -> list[str]:
    """Internal links whose file or anchor does not exist in the built site."""
    broken = []
    for href in sorted(set(hrefs)):
        target = urlsplit(urljoin(page_url, href))
        if target.scheme not in ("http", "https") or not urljoin(page_url, href).startswith(
                base_url):
            continue
        relative = unquote(target.path)[len(urlsplit(base_url).path):]
        path = SITE / relative
        if relative == "" or relative.endswith("/"):
            path = path / "index.html"
        if not path.is_file():
            broken.append(f"{href} (no file {relative})")
        elif target.fragment and path.suffix == ".html" and unquote(
                target.fragment) not in anchors(path):
            broken.append(f"{href} (no anchor #{target.fragment})")
    return broken


# ---- the browser ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url():
    if not (SITE / "index.html").exists() or not browser.CHROMIUM.exists():
        pytest.skip("needs a built site and Debian's chromium: run `make test-site`")
    server, url = book_server.serve(SITE, MATHJAX_DIR)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def driver(base_url):
    chromium = browser.start()
    yield chromium
    chromium.quit()


# Known and harmless: sphinx-thebe 0.3.1 under Sphinx 7.4 writes its one-line config script into
# every page twice, so the second copy's `const` fails. The book does not use thebe (the live-code
# button is off), so nothing reads those constants. Any other console error fails the page.
KNOWN_CONSOLE_ERRORS = (re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),)


def load(driver, url: str) -> tuple[str, list[str]]:
    """Open ``url``, wait for MathJax; returns its verdict and the console's SEVERE messages."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    verdict = driver.execute_async_script(browser.WAIT_FOR_MATHJAX)
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE"
              and not any(known.search(entry["message"]) for known in KNOWN_CONSOLE_ERRORS)]
    return verdict, errors


PAGE_FACTS = """
const article = document.querySelector('article.bd-article') || document.body;
const prose = article.cloneNode(true);
prose.querySelectorAll('pre, code, .highlight, script, style, mjx-container')
     .forEach(e => e.remove());
const count = (sel) => article.querySelectorAll(sel).length;
return {
  text: prose.innerText,
  math: count('.math'),
  typeset: Array.from(article.querySelectorAll('.math'))
                .filter(e => e.querySelector('mjx-container')).length,
  merrors: count('mjx-merror'),
  images: Array.from(article.querySelectorAll('img')).map(
      i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
  output_images: count('.cell_output img'),
  boxes: Object.fromEntries(arguments[0].map(c => [c, count('div.' + c)])),
  dropdowns: count('div.solution.dropdown'),
  hrefs: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
              .map(a => a.getAttribute('href')),
  prev: (document.querySelector('a.left-prev') || {}).href || null,
  next: (document.querySelector('a.right-next') || {}).href || null,
  title: (article.querySelector('h1') || {}).innerText || '',
};
"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|\$[^$\s][^$]*[\\^_][^$]*\$")


def box_classes(counts: dict[str, int]) -> dict[str, str]:
    """The CSS class each box directive renders with (``prf:theorem`` -> ``theorem``)."""
    return {name: name.removeprefix("prf:") for name in counts
            if name.startswith("prf:") or name in ("exercise", "solution")}


@pytest.mark.parametrize("index", range(len(PAGES)), ids=[p["file"] for p in PAGES])
def test_page_renders(driver, base_url, index):
    page = PAGES[index]
    url = urljoin(base_url, page["html"].relative_to(SITE).as_posix())
    assert page["source"], f"{page['file']} is in _toc.yml but has no .ipynb or .md"
    assert page["html"].is_file(), f"{page['file']} was not built"
    verdict, console = load(driver, url)
    counts = directive_counts(page["source"])
    classes = box_classes(counts)
    facts = driver.execute_script(PAGE_FACTS, sorted(set(classes.values())))
    browser.full_page_screenshot(driver, SCREENSHOTS / f"{Path(page['file']).name}.png")

    problems = [f"console error: {message}" for message in console]
    if verdict.startswith("error"):
        problems.append(f"MathJax: {verdict}")
    if facts["math"] and facts["typeset"] < facts["math"]:
        problems.append(f"MathJax typeset {facts['typeset']} of {facts['math']} formulas")
    if facts["merrors"]:
        problems.append(f"{facts['merrors']} formulas MathJax could not parse")
    raw = sorted(set(RAW_TEX.findall(facts["text"])))
    if raw:
        problems.append(f"raw TeX left in the text: {raw[:5]}")
    problems += [f"figure not shown: {img['src']}" for img in facts["images"] if not img["ok"]]
    if facts["output_images"] < figure_cells(page["source"]):
        problems.append(f"{figure_cells(page['source'])} cells show a figure, "
                        f"but the page has {facts['output_images']} output images")
    for name, css in classes.items():
        found, expected = facts["boxes"][css], counts[name]
        if found < expected or (css in ("exercise", "solution") and found != expected):
            problems.append(f"{expected} {{{name}}} boxes in the source, {found} on the page")
    if facts["dropdowns"] != counts.get("solution", 0):
        problems.append("every solution must be a collapsed dropdown")
    problems += [f"broken link {b}" for b in broken_links(url, base_url, facts["hrefs"])]

    if page["source"].suffix == ".ipynb":
        if set(facts["colab"]) != {colab_url(page)}:
            problems.append(f"Colab button {facts['colab']} != {colab_url(page)}")
    elif facts["colab"]:
        problems.append(f"a page without a notebook offers Colab: {facts['colab']}")
    repo = CONFIG["repository"]["url"]
    if repo not in facts["hrefs"]:
        problems.append("no repository button")
    if not any(h.startswith(f"{repo}/issues/new") for h in facts["hrefs"]):
        problems.append("no issue button")

    neighbours = {"prev": PAGES[index - 1] if index > 0 else None,
                  "next": PAGES[index + 1] if index + 1 < len(PAGES) else None}
    for side, other in neighbours.items():
        wanted = urljoin(base_url, other["html"].relative_to(SITE).as_posix()) if other else None
        if facts[side] != wanted:
            problems.append(f"{side} link {facts[side]} != {wanted}")
    if not facts["title"].strip():
        problems.append("no page title")
    assert not problems, f"{page['file']}:\n  " + "\n  ".join(problems)


# ---- interactive figures -----------------------------------------------------------------------

EXPLORERS = """
return Array.from(document.querySelectorAll('article .plotly-graph-div')).map(
    gd => ({id: gd.id, sliders: (gd.layout.sliders || []).map(s => [s.active, s.steps.length])}));
"""

# What a reader sees of a figure: every trace's data and name, and the title.
SNAPSHOT = """
const gd = document.getElementById(arguments[0]);
return JSON.stringify([gd.data.map(t => [Array.from(t.x), Array.from(t.y), t.name]),
                       gd.layout.title && gd.layout.title.text]);
"""

ACTIVE = "return document.getElementById(arguments[0]).layout.sliders[arguments[1]].active;"

EXPLORER_PAGES = [i for i, p in enumerate(PAGES) if p["source"] and explorer_cells(p["source"])]


def drag_slider(driver, plot_id: str, index: int, steps: int, active: int) -> int:
    """Click the far end of slider ``index`` (the end away from ``active``) as a reader would;
    returns the slider's position afterwards."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    rail = driver.find_elements(
        "css selector", f"#{plot_id} .slider-rail-touch-rect")[index]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", rail)
    reach = rail.rect["width"] / 2 - 4
    ActionChains(driver).move_to_element_with_offset(
        rail, int(reach if active < steps / 2 else -reach), 0).click().perform()
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(ACTIVE, plot_id, index) != active)
    return driver.execute_script(ACTIVE, plot_id, index)


@pytest.mark.parametrize("index", EXPLORER_PAGES, ids=[PAGES[i]["file"] for i in EXPLORER_PAGES])
def test_interactive_figures_move(driver, base_url, index):
    """Every slider of every interactive figure changes what the figure plots, with no error."""
    page = PAGES[index]
    _, console = load(driver, urljoin(base_url, page["html"].relative_to(SITE).as_posix()))
    explorers = driver.execute_script(EXPLORERS)
    assert len(explorers) == explorer_cells(page["source"]), (
        f"{explorer_cells(page['source'])} cells show an interactive figure, "
        f"the page has {len(explorers)}")
    problems = [f"console error on load: {message}" for message in console]
    for plot in explorers:
        assert plot["sliders"], f"{plot['id']} has no slider"
        for number, (active, steps) in enumerate(plot["sliders"]):
            before = driver.execute_script(SNAPSHOT, plot["id"])
            moved_to = drag_slider(driver, plot["id"], number, steps, active)
            after = driver.execute_script(SNAPSHOT, plot["id"])
            if after == before:
                problems.append(f"{plot['id']}: slider {number} moved {active} -> {moved_to}, "
                                f"the plotted data did not change")
    problems += [f"console error after moving: {entry['message']}"
                 for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
                 and not any(known.search(entry["message"]) for known in KNOWN_CONSOLE_ERRORS)]
    assert not problems, f"{page['file']}:\n  " + "\n  ".join(problems)


def test_sidebar_has_the_parts_and_numbered_chapters(driver, base_url):
    driver.get(urljoin(base_url, PAGES[0]["html"].relative_to(SITE).as_posix()))
    sidebar = driver.execute_script("""
        const nav = document.querySelector('nav.bd-docs-nav');
        return {captions: Array.from(nav.querySelectorAll('p.caption')).map(p => p.innerText),
                links: Array.from(nav.querySelectorAll('li.toctree-l1 > a')).map(
                    a => [a.getAttribute('href'), a.innerText])};""")
    assert [c.strip() for c in sidebar["captions"]] == [p["caption"] for p in TOC["parts"]]
    titles = {href.split("#")[0].removesuffix(".html"): text for href, text in sidebar["links"]}
    numbers = []
    for page in PAGES[1:]:
        text = titles.get(Path(page["file"]).name)
        assert text, f"{page['file']} is missing from the sidebar"
        match = re.match(r"(\d+)\. ", text)
        assert bool(match) == page["numbered"], f"sidebar entry {text!r} numbering"
        numbers += [int(match.group(1))] if match else []
    assert numbers == list(range(1, len(numbers) + 1)), f"chapters numbered {numbers}"


def test_search_finds_the_book(driver, base_url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(urljoin(base_url, "search.html?q=emergence"))
    hits = WebDriverWait(driver, 20).until(
        lambda d: d.find_elements("css selector", "#search-results ul.search li"))
    assert hits, "search for 'emergence' found nothing"


def test_bibliography_page_lists_every_reference(driver, base_url):
    keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    bibliographies = [p["file"] for p in PAGES if p["source"]
                      and re.search(r"\{bibliography\}", markdown_text(p["source"]))]
    assert bibliographies == ["book/a3_references"], f"bibliography directives in {bibliographies}"
    driver.get(urljoin(base_url, "book/a3_references.html"))
    entries = driver.find_elements("css selector", "div.citation")
    assert len(entries) == len(keys), f"{len(entries)} entries shown for {len(keys)} in the .bib"


def test_every_appendix_has_its_page():
    appendices = [p for p in PAGES if p["caption"] == "Appendices"]
    assert [Path(p["file"]).name for p in appendices] == [
        "a1_reproduction_notes", "a4_paper_map", "a5_laws_at_a_glance", "a2_api",
        "a3_references"]


def test_api_page_documents_every_module():
    package = ROOT / "lib" / "emergence"
    modules = {".".join(("emergence", *path.relative_to(package).with_suffix("").parts))
               for path in package.rglob("*.py") if not path.name.startswith("_")}
    api = (ROOT / "book" / "a2_api.md").read_text()
    missing = modules - set(re.findall(r"automodule::\s*(\S+)", api))
    assert not missing, f"modules missing from a2_api.md: {sorted(missing)}"
