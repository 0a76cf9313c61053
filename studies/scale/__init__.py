"""ILSVRC-2012 at full class count on this machine: a generated 1,000-class devkit copy.

``python -m studies.scale.make_copy --photos DIR --out DIR --train-per-class 4``
writes the copy (:mod:`studies.scale.make_copy`).
"""
