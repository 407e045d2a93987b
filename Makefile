# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the documentation site has its own environment: the `docs` extra of pyproject.toml only
DOCS_VENV := .venv-docs
DOCS_BIN := $(DOCS_VENV)/bin
DOCS_STAMP := $(DOCS_VENV)/.installed

.PHONY: demo test test-slow targets ablate bench docs site browser clean

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

# The site (mkdocs.yml; output in site/). mkdocstrings reads the source statically, so .venv-docs
# gets the `docs` extra's requirements from pyproject.toml and not the package with JAX.
$(DOCS_STAMP): pyproject.toml
	test -x $(DOCS_BIN)/python || $(PY) -m venv $(DOCS_VENV)
	$(DOCS_BIN)/python -m pip install --quiet --upgrade pip
	$(DOCS_BIN)/python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['docs']))" > $(DOCS_VENV)/requirements-docs.txt
	$(DOCS_BIN)/python -m pip install --quiet -r $(DOCS_VENV)/requirements-docs.txt
	touch $(DOCS_STAMP)

site: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_BIN)/mkdocs build --strict

# Debian's Chromium and its chromedriver for the explorer's browser test (tests/test_explore.py skips
# without them). Installs only what is missing, with apt-get (root, as in CI); no browser is downloaded.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then \
	  echo "browser: $(CHROMIUM) and $(CHROMEDRIVER) are installed"; \
	else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi

clean:
	rm -rf $(VENV) $(DOCS_VENV) site build src/*.egg-info .pytest_cache
