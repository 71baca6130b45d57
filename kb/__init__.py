"""What every stage of the pipeline shares and nothing else: the ``_build`` layout (``layout``),
atomic file writes (``files``) and the command-line conventions (``cli``).

It imports only the standard library, so any stage (and the Sphinx extension) can use it
without pulling in another stage's machinery.
"""
