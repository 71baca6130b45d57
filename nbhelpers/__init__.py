"""Plumbing shared by the article notebooks: device, seeds, toy data, plots, small networks.

The idea an article demonstrates lives inline in its notebook; only what every notebook
would otherwise repeat lives here (d2l-style: written once, imported everywhere).
"""
from nbhelpers.device import pick_device, seed_everything

__all__ = ["pick_device", "seed_everything"]
