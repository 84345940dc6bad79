# Two entry points for a fresh machine (see README.md):
#   make book   - set up .venv, then build the book, executing every notebook on the CPU
#   make test   - set up .venv, build the book (each chapter executes once), then run pytest
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test setup clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

book: $(STAMP)
	$(PY) scripts/build_book.py

test: $(STAMP)
	$(PY) scripts/run_tests.py

clean:
	rm -rf _build .pytest_cache
