"""The rules of an article's implementation (docs/articles.md) that a program can check.

- ``device-random``: a random draw on the device (``torch.randn(..., device=d)``, ``randn_like``
  of a tensor, in-place ``normal_``/``uniform_``, ``multinomial`` without a generator): CUDA's
  generator gives other numbers than the CPU's, so thresholds and quoted figures would hold on
  one device only. Draw on a CPU generator and move the result.
- ``gradcheck-nondet``: ``gradcheck`` of a function that reaches ``grid_sample`` (directly or
  through the article's own functions), without ``nondet_tol``: its backward accumulates with
  atomics on CUDA, so two runs differ in the last bits.
- ``one-run-figure``: a sentence that states one run's measurement as fact ("实测约 0.3"): the
  figure depends on the machine; print it and state what the printout shows.

Only the implementation region is read (below the feed region), code cells with ``ast`` and prose
with patterns; each finding is ``file:line: rule: what to do``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.notebook import cells_with_lines, implementation_start

RANDOM_FACTORIES = {"randn", "rand", "randint", "randperm", "normal", "multinomial", "bernoulli", "poisson"}
RANDOM_LIKE = {"randn_like", "rand_like", "randint_like"}
IN_PLACE_RANDOM = {"normal_", "uniform_", "bernoulli_", "exponential_", "random_", "geometric_", "cauchy_",
                   "log_normal_"}
# A measurement stated as a fact: 实测/测得/跑出 followed closely by a number.
ONE_RUN = re.compile(r"(实测|测得|跑出来?|这次运行)[^。；;\n]{0,12}?[约≈~]?\s*[-+]?\d")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    advice: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.advice}"


def _name(node) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _on_cpu(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value == "cpu"


def code_findings(source: str) -> list[tuple[int, str, str]]:
    """(line in ``source``, rule, advice) for the code of one cell."""
    tree = _parse(source)
    if tree is None:
        return []  # the runner reports broken code; lint reads what parses
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name, kw = _name(node.func), _keywords(node)
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        is_torch = isinstance(receiver, ast.Name) and receiver.id == "torch"
        if is_torch and name in RANDOM_FACTORIES and "device" in kw and not _on_cpu(kw["device"]):
            out.append((node.lineno, "device-random",
                        f"torch.{name}(..., device=...) draws on the device: draw on a CPU generator "
                        f"(generator=g) and move the result with .to(device)"))
        elif name == "multinomial" and "generator" not in kw:
            out.append((node.lineno, "device-random",
                        "multinomial draws where its probabilities live: pass a CPU generator and CPU "
                        "probabilities, then move the samples"))
        elif is_torch and name in RANDOM_LIKE:
            out.append((node.lineno, "device-random",
                        f"torch.{name} draws on its tensor's device: draw torch.{name[:-5]}(x.shape, "
                        f"generator=g) on the CPU and move it to x.device"))
        elif name in IN_PLACE_RANDOM and receiver is not None and not (
                isinstance(receiver, ast.Attribute) and _name(receiver) == "init") and "generator" not in kw:
            out.append((node.lineno, "device-random",
                        f".{name}() fills the tensor on its own device: pass generator=g (a CPU "
                        f"generator) on a CPU tensor, then move it"))
    return out


def _parse(source: str):
    lines = [ln if not re.match(r"\s*[%!]", ln) else "" for ln in source.splitlines()]  # IPython magics
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def atomic_functions(sources: list[str]) -> set[str]:
    """Names of the functions defined in ``sources`` that reach ``grid_sample``, directly or
    through one another."""
    bodies = {}
    for tree in filter(None, map(_parse, sources)):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bodies[node.name] = {_name(n) for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))}
    reach = {name for name, used in bodies.items() if "grid_sample" in used}
    while True:
        more = {name for name, used in bodies.items() if used & reach} - reach
        if not more:
            return reach
        reach |= more


def gradcheck_findings(source: str, atomic: set[str]) -> list[tuple[int, str, str]]:
    """``gradcheck`` calls whose function reaches ``grid_sample`` and that pass no ``nondet_tol``."""
    out = []
    tree = _parse(source)
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call) and _name(node.func) in ("gradcheck", "gradgradcheck") and node.args \
                and "nondet_tol" not in _keywords(node):
            used = {_name(n) for n in ast.walk(node.args[0]) if isinstance(n, (ast.Name, ast.Attribute))}
            if used & (atomic | {"grid_sample"}):
                out.append((node.lineno, "gradcheck-nondet",
                            "gradcheck through grid_sample needs nondet_tol (its CUDA backward accumulates "
                            "with atomics): pass nondet_tol=1e-10 or so"))
    return out


def prose_findings(source: str) -> list[tuple[int, str, str]]:
    return [(n, "one-run-figure", f"{m.group(0)!r} states one run's figure as fact: print it, and say what "
                                  f"the printout shows (assert what the text claims)")
            for n, line in enumerate(source.splitlines(), 1) for m in ONE_RUN.finditer(line)]


def lint_article(path: Path, shown_as: str | None = None) -> list[Finding]:
    cells = cells_with_lines(path)
    mine = cells[implementation_start([c for c, _ in cells]):]
    atomic = atomic_functions([c.source for c, _ in mine if c.cell_type == "code"])
    out = []
    for cell, line in mine:
        if cell.cell_type == "code":
            hits = code_findings(cell.source) + gradcheck_findings(cell.source, atomic)
        else:
            hits = prose_findings(cell.source)
        out += [Finding(shown_as or str(path), line + n - 1, rule, advice) for n, rule, advice in hits]
    return sorted(out, key=lambda f: (f.path, f.line, f.rule))


def lint(root: Path, articles) -> list[Finding]:
    return [f for a in articles for f in lint_article(Path(root) / a.path, a.path.as_posix())]
