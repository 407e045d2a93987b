# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow targets ablate bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nssisim demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

targets: $(STAMP)
	$(BIN)/nssisim targets

ablate: $(STAMP)
	$(BIN)/nssisim ablate

bench: $(STAMP)
	$(BIN)/nssisim bench

docs: $(STAMP)
	$(BIN)/nssisim docs --out docs/model.md

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
