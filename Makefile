# Every target sets itself up from nothing: a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/lock.txt
QUICK  := EMERGENCE_PROFILE=quick
EXP    ?=

.PHONY: help venv book test lint results bench clean

help:
	@echo "make book     build the HTML book in _build/html (every chapter executed)"
	@echo "make test     unit tests + every chapter run by nbval in the quick profile"
	@echo "make lint     ruff over lib/, tests/ and the notebooks"
	@echo "make results  paper-scale experiments on a GPU, written to book/results/ (EXP=name for one)"
	@echo "make bench    speed of each experiment against a one-model-at-a-time loop"

venv: $(STAMP)

# torch comes from the pinned CPU build in the lock file; pyproject ranges stay loose for Colab.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --nitpicky --keep-going --path-output .

test: $(STAMP)
	$(QUICK) $(BIN)/python -m pytest tests book --nbval-lax --nbval-current-env -q

lint: $(STAMP)
	$(BIN)/ruff check lib tests book

results: $(STAMP)
	$(BIN)/python -m emergence.results $(if $(EXP),--only $(EXP),)

bench: $(STAMP)
	$(BIN)/python -m emergence.bench --out _build/bench.json

clean:
	rm -rf _build
