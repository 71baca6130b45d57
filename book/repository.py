"""The repository ``_config.yml`` names, and what the site links to in it.

One place for the address: the launch links of the standalone notebooks (``book.notebooks``) and
the search page's "request an article" link (``book.search_assets``) both start from it. No
repository configured: neither link exists, rather than links to nowhere.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from kb.cli import InputError

GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?$")


def repository(root: Path) -> dict:
    """``_config.yml``'s ``repository.url`` and ``notebooks.jupyterhub_url``; {} when no repository is set.

    The JupyterHub address is a key of our own: the theme's ``launch_buttons.jupyterhub_url`` would
    also add the theme's button, which opens the MyST source rather than the standalone notebook.
    """
    config_file = Path(root) / "_config.yml"
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InputError(config_file, f"cannot be read ({e})") from None
    repo = config.get("repository") or {}
    url = str(repo.get("url") or "").rstrip("/")
    if not url:
        return {}
    return {"url": url, "jupyterhub_url": str((config.get("notebooks") or {}).get("jupyterhub_url") or "")}


def new_issue_url(repo: dict) -> str:
    """Where a reader opens an issue (a GitHub repository's ``/issues/new``); "" for other hosts,
    whose forms take other parameters."""
    m = GITHUB.match(repo.get("url", ""))
    return f"https://github.com/{m.group(1)}/{m.group(2)}/issues/new" if m else ""
