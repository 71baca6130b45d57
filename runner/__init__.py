"""Execute the article notebooks: nbclient kernels in worker processes, a cache, records, a report.

``engine`` runs a selection of articles in a local worker pool, ``ray_engine`` as Ray tasks;
``jobs`` is what both run: one notebook's job, its key and its result; ``kernel`` executes one
notebook in a fresh kernel; ``notebook_io`` hashes a notebook (read by ``ingest.notebook``, as
MyST-NB reads it) the way jupyter-cache does; ``jupyter_cache_bridge`` hands executed notebooks to
Jupyter Book; ``merge`` takes results from other runs; ``records`` is the on-disk format the site
and the tools read (standard library only, so reading it never imports nbclient); ``report``
prints it.
"""
