"""Studies: scripts beside the library that use it (its data path, its training loop).

They are not installed with the packages (pyproject's package list is harness,
baselines, alexnet and decade) and write under ``results/``, never into a package.
Run one from the repository root, e.g. ``python -m studies.cpu_recipe`` or ``python -m studies.scale.make_copy``.
"""
