#!/usr/bin/env bash
# Run the articles that don't need TensorFlow through the project's runner on a CUDA machine
# without network.
#
#   bash tools/gpu_wheels.sh           # with PyPI: fills tools/gpu_wheels/ (git-ignored)
#   bash tools/gpu_check.sh OUTDIR     # on the CUDA machine: check CUDA, install the runner, execute,
#                                      # copy the report
#   bash tools/gpu_check.sh --list     # only print the slugs it would run (skips go to stderr), as
#                                      # the venv below sees them once it exists, else as $PYTHON does
#
# For a CUDA machine that has torch with CUDA (and, for some articles, scikit-learn) but not this
# project's environment, and no network: the runner's Jupyter stack is installed from wheels
# prepared beforehand on a machine with PyPI (tools/gpu_wheels/) into _build/gpu-venv, a venv that
# sees the system's packages, so torch + CUDA stay what the machine has. The whole script stays under GPU_CHECK_BUDGET seconds
# (default 480); each notebook gets GPU_CHECK_NB_TIMEOUT (default 240).
#
# OUTDIR (default _build/gpu_check) receives report.json (the runner's records), summary.txt
# (device, status and seconds per article; tracebacks of failures), logs/<slug>.log (the kernel
# logs of failures), setup.log (the install) and execute.log (the runner's output).
# Exit status: 0 all selected articles ok; 1 some failed or did not finish; 3 no CUDA device;
# 4 the runner could not be installed, or could not read the articles.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="${PYTHON:-python3}"
budget="${GPU_CHECK_BUDGET:-480}"
nb_timeout="${GPU_CHECK_NB_TIMEOUT:-240}"
jobs="${GPU_CHECK_JOBS:-8}"

# The articles to run: every article whose code cells import neither TensorFlow nor Keras (directly
# or through nbhelpers.tfutil), and none that imports a module the given Python cannot find
# (xgboost, say). The cells are read by the project's own reader (ingest.notebook: MyST-NB's), so
# that Python needs the runner's stack: the venv of step 2, or this project's environment.
# Slugs on stdout, skips on stderr.
select_slugs() {
    "$1" - "$root" <<'PY'
import importlib.util, re, sys
from pathlib import Path

root = Path(sys.argv[1])
sys.path.insert(0, str(root))
from ingest.notebook import code_cells, read_article_notebook
from ingest.store import load_articles

TF = re.compile(r"^\s*(?:import|from)\s.*\b(tensorflow|tf_keras|keras|tfutil)\b", re.M)
IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)
local = {p.name for p in root.iterdir() if p.is_dir()}
for article in load_articles(root):
    code = "\n".join(c.source for c in code_cells(read_article_notebook(root / article.path)))
    tf = TF.search(code)
    if tf:
        print(f"skip {article.slug}: imports {tf.group(1)} (TensorFlow)", file=sys.stderr)
        continue
    written = set(re.findall(r"%%writefile\s+\S*?(\w+)\.py", code))  # modules the notebook writes itself
    missing = sorted({m for m in IMPORT.findall(code) if m not in local | written | set(sys.builtin_module_names)
                      and importlib.util.find_spec(m) is None})
    if missing:
        print(f"skip {article.slug}: needs {', '.join(missing)}, not installed here", file=sys.stderr)
        continue
    print(article.slug)
PY
}

venv="$root/_build/gpu-venv"
if [[ "${1:-}" == "--list" ]]; then
    if [[ -x "$venv/bin/python" ]]; then select_slugs "$venv/bin/python"; else select_slugs "$py"; fi
    exit
fi

# 1. A CUDA device, before anything is installed or written.
if ! "$py" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
    echo "gpu_check: no CUDA device found ($py: torch.cuda.is_available() is not true); nothing was run" >&2
    exit 3
fi

out="${1:-$root/_build/gpu_check}"
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
cd "$root" || exit 4
run_start="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"

# 2. The runner's dependencies, from the carried wheels, into a venv that sees the system's torch.
wheels="$here/gpu_wheels"
(
    if [[ ! -x "$venv/bin/python" ]]; then
        # --without-pip: the system's pip, visible through --system-site-packages, installs into it.
        "$py" -m venv --system-site-packages --without-pip "$venv" || exit 4
    fi
    vpy="$venv/bin/python"
    # Where "$py" is itself a venv, --system-site-packages reaches only the interpreter under it:
    # a .pth (read after the venv's own packages) adds the site folders "$py" really sees.
    "$py" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith(("site-packages", "dist-packages"))))' \
        >"$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_kb_system_site.pth" || exit 4
    # Install each carried wheel whose distribution is missing (or older) here; the rest of what
    # it needs is the system's. --no-deps: the Sphinx stack that myst-nb declares is not carried
    # (the runner only parses MyST; it never builds).
    mapfile -t todo < <("$vpy" - "$wheels" <<'PY'
import sys
from importlib import metadata
from pathlib import Path
try:
    from packaging.version import Version
except ImportError:
    Version = None
for whl in sorted(Path(sys.argv[1]).glob("*.whl")):
    name, version = whl.name.split("-")[:2]
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(whl)
        continue
    try:
        if Version is not None and Version(have) < Version(version):
            print(whl)
    except Exception:
        pass
PY
)
    echo "installing ${#todo[@]} wheels from $wheels into $venv"
    if ((${#todo[@]})); then
        "$vpy" -m pip install --no-index --no-deps --disable-pip-version-check "${todo[@]}" || exit 4
    fi
    "$vpy" -c 'import runner.engine, ingest.notebook, book.cli, ipykernel, matplotlib_inline, torch; print("runner ok; torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' || exit 4
) >"$out/setup.log" 2>&1
status=$?
if ((status != 0)); then
    tail -30 "$out/setup.log" >&2
    echo "gpu_check: could not install the runner from $wheels (see $out/setup.log); run tools/gpu_wheels.sh first" >&2
    exit 4
fi
vpy="$venv/bin/python"
tail -1 "$out/setup.log"

# 3. Execute the selected articles on CUDA, within what is left of the budget.
if ! select_slugs "$vpy" >"$out/selected.txt" 2>"$out/skipped.txt"; then
    tail -30 "$out/skipped.txt" >&2
    echo "gpu_check: could not read the articles with $vpy (see $out/skipped.txt)" >&2
    exit 4
fi
mapfile -t slugs <"$out/selected.txt"
cat "$out/skipped.txt"
left=$((budget - SECONDS - 30))  # 30 s for the report
if ((left < 60)); then left=60; fi
echo "executing ${#slugs[@]} articles (${jobs} workers, ${nb_timeout} s each, ${left} s in all)"
timeout -k 10 "$left" "$vpy" -m book execute --force --jobs "$jobs" --timeout "$nb_timeout" --only "${slugs[@]}" \
    >"$out/execute.log" 2>&1
rc=$?
((rc == 124 || rc == 137)) && echo "the run hit its ${left} s limit; unfinished articles are marked below" >>"$out/execute.log"

# 4. The report: records of this run only (older ones on a reused machine don't count).
"$vpy" - "$root" "$out" "$run_start" "${slugs[@]}" <<'PY'
import shutil, sys
from pathlib import Path
from kb import layout
from runner.records import load_record, write_report
from runner.report import format_table, summary

root, out, start, slugs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
records, unfinished = [], []
for slug in slugs:
    rec = load_record(root, slug)
    (records.append(rec) if rec is not None and rec.started >= start else unfinished.append(slug))
write_report(root, [r.slug for r in records])
shutil.copy(layout.report_file(root), out / "report.json")
lines = [format_table(records), summary(records)]
if unfinished:
    lines.append(f"not finished within the time limit ({len(unfinished)}): {', '.join(unfinished)}")
skipped = (out / "skipped.txt").read_text().strip()
if skipped:
    lines.append("not selected:\n" + skipped)
for r in records:
    if r.failed:
        lines.append(f"\n--- {r.slug} ({r.path}): {r.status} at cell {r.failed_cell}\n{r.failed_source or ''}\n"
                     f"{r.traceback or ''}")
        log = layout.kernel_log(root, r.slug)
        if log.exists():
            shutil.copy(log, out / "logs" / log.name)
(out / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
print("\n".join(lines))
sys.exit(1 if unfinished or any(r.failed for r in records) else 0)
PY
status=$?
echo "gpu_check: report in $out (execute exit $rc)"
exit "$status"
