"""ilsvrc-harness: replay the 2012 ImageNet moment under the ILSVRC top-5 protocol."""

__version__ = "0.1.0"
