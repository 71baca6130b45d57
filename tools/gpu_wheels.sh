#!/usr/bin/env bash
# Fill tools/gpu_wheels/ with the wheels tools/gpu_check.sh installs on a CUDA machine without network.
#
#   bash tools/gpu_wheels.sh          # on a machine that reaches PyPI; then see tools/gpu_check.sh
#
# That machine has Python 3.12 with torch + CUDA, sentence-transformers and scikit-learn (so numpy,
# scipy, tqdm, pyyaml...), but none of the runner's Jupyter stack and no network. This downloads,
# for CPython 3.12 on manylinux x86_64, the runner's dependencies and everything they need
# (resolved by pip for that target, at this project's pins from requirements.txt), then drops
# the big packages that machine already has. Binary wheels only: nothing is built there.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
dest="$here/gpu_wheels"
read -r -a pip_cmd <<<"${PIP:-python3 -m pip}"

# What `python -m book execute` imports (runner/, book/cli.py, ingest/store.py, kb/, and MyST-NB's
# reader through ingest/notebook.py, which gpu_check.sh also selects articles with), what a kernel
# needs (ipykernel and the inline backend the runner sets), and matplotlib for the notebooks.
packages=(nbclient nbformat jupyter-client jupyter-core ipykernel ipython traitlets pyzmq tornado
          jupyter-cache myst-nb pyyaml tqdm matplotlib-inline matplotlib)
# Left out: what the GPU machine has (torch, sentence-transformers and scikit-learn bring them),
# and the Sphinx stack myst-nb declares but the runner never imports (it parses MyST, builds nothing):
# 14 MB less to copy to the machine.
drop=(numpy scipy torch scikit_learn joblib threadpoolctl
      sphinx sphinxcontrib_applehelp sphinxcontrib_devhelp sphinxcontrib_htmlhelp sphinxcontrib_jsmath
      sphinxcontrib_qthelp sphinxcontrib_serializinghtml babel alabaster imagesize snowballstemmer roman_numerals)

# Pin to the versions this project runs, where requirements.txt names them (not torch/numpy:
# those stay whatever the GPU machine has).
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
grep -oE '^[A-Za-z0-9_.-]+==[^ ;\\]+' "$root/requirements.txt" | grep -vE '^(torch|numpy|scipy|scikit-learn)==' >"$constraints"

rm -rf "$dest"
mkdir -p "$dest"
"${pip_cmd[@]}" download --quiet --disable-pip-version-check \
    --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -c "$constraints" -d "$dest" "${packages[@]}"

for name in "${drop[@]}"; do
    rm -f "$dest/$name"-[0-9]*.whl
done
printf '%s\n' "${packages[@]}" >"$dest/requirements.txt"  # what gpu_check.sh installs
echo "$(find "$dest" -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1): $dest"
