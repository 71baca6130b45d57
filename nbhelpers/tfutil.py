"""Import TensorFlow without its C++ start-up chatter ending up in the rendered page."""
from __future__ import annotations

import os
import sys


def import_tensorflow():
    """Return the ``tensorflow`` module, imported with its start-up logs silenced.

    TensorFlow's C++ runtime writes INFO/ERROR lines (oneDNN notice, "could not find cuda
    drivers", cuInit failure) straight to file descriptor 2 before absl logging is set up, so
    ``TF_CPP_MIN_LOG_LEVEL`` does not catch them and Jupyter shows them as cell output. We point
    fd 2 at /dev/null while importing and while listing devices (which triggers cuInit), then
    restore it; Python tracebacks still go to ``sys.stderr`` as usual. ``TF_ENABLE_ONEDNN_OPTS=0``
    keeps oneDNN's run-time notices out too, and the Python logger is set to ERROR so deprecation
    warnings (e.g. tf.feature_column) do not flood the page.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")
    return tf
