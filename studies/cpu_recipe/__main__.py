"""``python -m studies.cpu_recipe``: the study's command line (see the package docstring)."""

import os

# before torch starts its OpenMP runtime: with the default spinning policy, two threads on a
# 2-core machine that also runs other jobs train several times slower than one
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from studies.cpu_recipe.cli import main  # noqa: E402  (after the environment is set)

main()
