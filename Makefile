# Every target sets itself up from nothing: a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/lock.txt
QUICK  := EMERGENCE_PROFILE=quick EMERGENCE_SLOW_TESTS=1
EXP    ?=
BUILD  := $(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going

# The browser test: a quick-profile build of the whole site, opened page by page in Debian's
# headless Chromium. MathJax comes from a pinned npm package, because the test machine has no
# route to the CDN the published pages load it from.
SITE         := _build/site
CHROMIUM     := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
SITE_TOOLS   := $(VENV)/site-tools
MATHJAX      := $(SITE_TOOLS)/node_modules/mathjax/es5/tex-mml-chtml.js
STUDENT      := _build/student
STUDENT_TEST := _build/student-check

.PHONY: help venv book book-student test test-book test-site test-student lint results bench chapter-times \
	clean

help:
	@echo "make book          build the HTML book in _build/html (every chapter executed)"
	@echo "make book-student  the same book without the exercise solutions, in $(STUDENT)/_build/html"
	@echo "make test          unit tests, then test-site (runs every chapter) and test-student (quick)"
	@echo "make test-book     every chapter under nbval, cell by cell (quick profile)"
	@echo "make test-site     build the site in the quick profile and check every page in Chromium"
	@echo "make test-student  build the student edition (no execution) and check no solution shows"
	@echo "make lint          ruff over lib/, tests/ and the notebooks"
	@echo "make results       paper-scale experiments (CPU engine on 2 cores, or a GPU), into book/results/ (EXP=name for one)"
	@echo "make chapter-times run every chapter (quick profile) and record its time for the teaching page"
	@echo "make bench         speed of each engine per experiment: CPU engine, torch ensemble, one-model loop, roofline"

venv: $(STAMP)

# torch comes from the pinned CPU build in the lock file; pyproject ranges stay loose for Colab.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# --all: the pages depend on lib/, which Sphinx does not track, so every page is rebuilt.
book: $(STAMP)
	$(BUILD) --path-output .

# hide_solutions is sphinx-exercise's switch that drops every {solution} block from the pages.
# $(1): the folder for the config and the build; $(2): further sed expressions for the config.
define student_edition
	mkdir -p $(1)
	sed -e 's/^  config:$$/  config:\n    hide_solutions: true/' $(2) _config.yml > $(1)/_config.yml
	grep -q 'hide_solutions: true' $(1)/_config.yml
	$(BUILD) --config $(1)/_config.yml --path-output $(1)
endef

book-student: $(STAMP)
	$(call student_edition,$(STUDENT))

# Each chapter runs once: test-site's build executes every notebook and stops at the first
# failing cell (nb_execution_raise_on_error), which is the same check nbval makes; running the
# chapters under nbval as well would double the time of CI. test-book gives nbval's per-cell
# report when a chapter fails.
test: $(STAMP)
	$(QUICK) $(BIN)/python -m pytest tests --ignore=tests/test_site.py \
		--ignore=tests/test_student_edition.py -q
	$(MAKE) test-site
	$(MAKE) test-student

test-book: $(STAMP)
	$(QUICK) $(BIN)/python -m pytest book --nbval-lax --nbval-current-env -q

test-site: $(STAMP) $(CHROMIUM) $(CHROMEDRIVER) $(MATHJAX)
	$(QUICK) $(BUILD) --path-output $(SITE)
	SITE_HTML=$(SITE)/_build/html MATHJAX_DIR=$(dir $(MATHJAX)) \
		$(BIN)/python -m pytest tests/test_site.py -q

# The student edition as built for readers, but without executing the notebooks: which boxes a page
# shows does not depend on what its code prints, and test-site has already run every chapter.
# Unexecuted Markdown notebooks have no kernel to name their code's language, hence the lexer
# warning is let through, and so are glue references (chapters 13-15 quote computed numbers with
# {glue:}), whose values exist only once a notebook has run. The test compares the result with
# test-site's full build, so it runs after test-site.
NO_EXECUTION := -e 's/^  execute_notebooks: force$$/  execute_notebooks: "off"/' \
	-e 's/^    suppress_warnings: \["mystnb.unknown_mime_type"\]$$/    suppress_warnings: ["mystnb.unknown_mime_type", "myst-nb.lexer", "mystnb.glue"]/'

test-student: $(STAMP)
	$(call student_edition,$(STUDENT_TEST),$(NO_EXECUTION))
	grep -q 'execute_notebooks: "off"' $(STUDENT_TEST)/_config.yml
	grep -q '"myst-nb.lexer"' $(STUDENT_TEST)/_config.yml
	STUDENT_HTML=$(STUDENT_TEST)/_build/html SITE_HTML=$(SITE)/_build/html \
		$(BIN)/python -m pytest tests/test_student_edition.py -q

# Installed only when missing (as root: CI and the development machines run as root).
$(CHROMIUM) $(CHROMEDRIVER):
	apt-get update && apt-get install -y chromium chromium-driver

$(MATHJAX):
	npm install --prefix $(SITE_TOOLS) --no-save --no-package-lock --no-audit --no-fund \
		mathjax@3.2.2

lint: $(STAMP)
	$(BIN)/ruff check lib tests book

# Run on a quiet machine: the teaching page shows these times as measured.
chapter-times: $(STAMP)
	$(BIN)/python -m emergence.course

results: $(STAMP)
	$(BIN)/python -m emergence.results $(if $(EXP),--only $(EXP),)

# glibc settings that let torch reuse freed memory instead of faulting in fresh pages every step
# (2x for the torch ensemble on a CPU); they give the reference paths their best case.
BENCH_MALLOC := MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824

bench: $(STAMP)
	$(BENCH_MALLOC) $(BIN)/python -m emergence.bench --out _build/bench.json

clean:
	rm -rf _build
