"""The decade after 2012 on the same images: ZFNet, VGG-11/16, GoogLeNet, ResNet-18/34.

A plugin package: it registers its methods through the ``harness.baselines``
entry-point group and imports from the harness only what any third-party
plugin may (``harness.api``, ``harness.types``, ``harness.params``,
``harness.protocol``, ``harness.registry``) plus the shared trainer's public
surface ``baselines.cnn``.
"""
