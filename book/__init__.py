"""The published site: Jupyter Book pages, static assets, and the Sphinx extension in ``_ext``."""
