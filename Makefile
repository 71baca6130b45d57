# The two README commands:  `make site` (set up + main job) and `make test`.
PYTHON ?= python3
STAMP := _build/.requirements-installed

.PHONY: site test setup ingest build clean

site: setup
	$(PYTHON) -m ingest
	$(PYTHON) -m book build
	@echo "Open $(CURDIR)/_build/html/index.html"

test: setup
	$(PYTHON) -m pytest -q

setup: $(STAMP)

# pip runs again only when requirements.txt changed (a fresh clone always installs).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m pip install -q --disable-pip-version-check -r requirements.txt
	@mkdir -p $(dir $@) && touch $@

ingest: setup
	$(PYTHON) -m ingest

build: setup
	$(PYTHON) -m book build

clean:
	rm -rf _build
