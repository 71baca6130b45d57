"""Execute the article notebooks: nbclient kernels in worker processes, a cache, records, a report.

``engine`` runs a selection of articles; ``kernel`` executes one notebook in a fresh kernel;
``notebook_io`` reads an article the way MyST-NB does and keys it; ``jupyter_cache_bridge`` hands
executed notebooks to Jupyter Book; ``records`` is the on-disk format the site and the tools read
(standard library only, so reading it never imports nbclient); ``report`` prints it.
"""
