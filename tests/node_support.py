"""Running the browser's search code under Node, for the tests that compare it with Python's."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="needs node")


def run_core(payload: dict) -> dict:
    """``tests/js/core_cli.mjs`` on ``payload`` (JSON in, JSON out)."""
    proc = subprocess.run([NODE, str(REPO / "tests/js/core_cli.mjs")], input=json.dumps(payload), text=True,
                          capture_output=True, check=True)
    return json.loads(proc.stdout)
