"""Turn transmission feeds into article notebooks under ``articles/``.

Layers, bottom up: ``feed`` reads one feed file, ``merge`` folds duplicate excerpts into one,
``escape`` makes feed text safe MyST, ``article_file`` reads/writes one article, ``store``
loads them all, ``sync`` runs a whole ingest, ``toc`` derives the book's table of contents.
"""
