"""Choose AlexNet's CPU recipe on the monitor: short pilot runs, error per CPU-minute.

The ``cpu`` profile (:mod:`alexnet.recipe`) is what a CPU trains in about 45
minutes, so its hyper-parameters are a compute budget's, not the paper's.
This study chooses them the way the harness allows: on the *monitor* (the
harness's seeded, per-class held-out slice of the training split), never
on val, whose images are not read.

**Data.** The harness's own path: :func:`harness.experiment.prepare` with a
:class:`~harness.config.RunConfig` for the subset (``tiny-imagenet`` by
default), so the manifest, the decoded cache and the holdout are those of
``harness run --suite tiny-imagenet`` with the same ``--cache``. The pilots
train on a subsample of the harness's *fit* rows (``--classes`` classes, a
seeded draw, ``--fit-per-class`` images each) and are scored on the
harness's monitor rows of those classes (``--monitor-per-class``). The
default, 25 classes x 300 images and their 50 monitor images each, is there
because this network is slow to leave chance: on all 100 classes the
committed profile's first epoch (~780 steps) ends at 89.6% top-5 error, and
pilots of 40-80 s on 100 classes measured here all ended at chance (95%),
where on 20 classes the same 40 s separated the candidates by 5-12 points
(standard error ~1.6). The recommended profile is sized for a full run on
every class (the harness's fit and monitor rows).

**Pilots.** Each :class:`~studies.cpu_recipe.candidates.Candidate` (schedule, peak lr, batch, width,
warm-up) trains from the same seed for the same wall-clock budget
(``--budget-minutes``, training only): the training rate of its network and
batch is measured first (a throwaway model, real batches, the real
augmentation, every network one after the other so that all see the same
load), which fixes its number of SGD steps, so that a schedule can end
where the budget does. Candidates that share a network and batch get the
same steps, so their comparison does not depend on the load; the seconds a
pilot actually took are recorded (and flagged when 25% off the budget). Everything else is the ``cpu`` profile's and the paper's:
small stem (56 crops of the 64px cache: the only crop its fc6 is sized
for), He init with standardised inputs, momentum 0.9, weight decay 5e-4 on
weights only, mean image, PCA colour noise, dropout; the lr of a candidate
built with :func:`candidate` follows the linear scaling rule from its value
at batch 128 (Goyal et al. 2017). A pilot is trained by the shared CNN loop
(:func:`baselines.cnn.loop.train_epoch`, :func:`~baselines.cnn.loop.evaluate`,
:class:`~baselines.cnn.schedule.LrSchedule`) with a step budget: its
``--curve-points`` evaluations split its steps into equal segments, each one
"epoch" of the loop over the next rows of the seeded shuffled fit rows.
Schedules (per SGD step):

* ``warmup-cosine``  linear from ``lr / warm-up steps`` to ``lr`` over the
  first ``warmup`` fraction of the steps, then cosine to 0 at the last step;
* ``cosine``         the same without the warm-up;
* ``constant``       ``lr`` throughout;
* ``plateau``        the paper's rule on the monitor's top-1 error: /10
  after ``plateau_patience`` evaluations in a row without a lower error, at
  most 3 times. A pilot evaluates ``--curve-points`` times, which stand in
  for its epochs; within a few minutes the error keeps falling, so the rule
  rarely fires: the point of comparing it, as a plateau schedule does not
  end low within a fixed epoch budget.

**Choice.** The monitor's centre-crop top-1/top-5 error (the harness's one
metric, :func:`baselines.cnn.evaluation.curve_errors`) is measured
``--curve-points`` times (equally spaced in steps; evaluation time is not
part of the budget). The chosen candidate is the one with the lowest final
monitor top-5 error at the equal budget, i.e. the lowest error per
CPU-minute; each candidate's top-5 points gained over chance per
CPU-minute (``train seconds x threads``) and the standard error of its
monitor estimate are recorded beside it, so a difference within noise is
visible as such; a choice whose error is not clearly below chance is
flagged (``chosen_left_chance``) and warned about. From the chosen
candidate's measured training and
evaluation rates the study derives the epochs that fit ``--target-minutes``
(default 45) on the full fit rows, with one monitor evaluation per epoch,
and writes a recommended profile.

**Output.** One JSON file (``--out``, default
``results/cpu_recipe/study.json``, written atomically; never into a package): the machine, load,
threads, data (manifest hash, holdout, pilot subsample), every candidate
with its settings, planned steps, seconds, rates and learning curve, the
selection rule, the choice and the recommended profile.

    python -m studies.cpu_recipe --data /path/to/tiny-imagenet-100     # ~14 min on 2 cores
    python -m studies.cpu_recipe --data D --candidates cosine-0.02,plateau-0.02 --budget-minutes 5
    python -m studies.cpu_recipe --data D --candidate 'schedule=warmup-cosine,lr128=0.03,width=0.75'

Run as a script it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set)
before torch starts: with the default spinning policy, two threads on a
2-core machine that also runs other jobs train several times slower than
one (``benchmarks/cnn_cpu_throughput.py`` measures it).

Known limits: a pilot of a few minutes ranks recipes by how fast they
reduce the error early; the widths' ranking can change with a longer
budget (a wider network needs more steps), and a warm-up's length in a
pilot is a fraction of a few hundred steps, not of the full run's
thousands. Rates are measured under whatever else the machine runs (the
load average is recorded), so the derived epochs err on the short side
when the study ran beside other jobs.
"""

from __future__ import annotations

import importlib

__all__ = [
    "DEFAULT_CANDIDATES",
    "SCHEDULES",
    "Candidate",
    "PilotData",
    "StudySettings",
    "candidate",
    "load_pilot_data",
    "main",
    "parse_candidate",
    "pilot_config",
    "recommend_profile",
    "run_pilot",
    "run_study",
]

# names -> submodule; imported on first use so that `python -m studies.cpu_recipe` can set
# OMP_WAIT_POLICY before torch starts (see __main__.py)
_LAZY = {
    "DEFAULT_CANDIDATES": "candidates",
    "SCHEDULES": "candidates",
    "Candidate": "candidates",
    "candidate": "candidates",
    "parse_candidate": "candidates",
    "pilot_config": "candidates",
    "PilotData": "data",
    "load_pilot_data": "data",
    "StudySettings": "pilots",
    "recommend_profile": "pilots",
    "run_pilot": "pilots",
    "run_study": "pilots",
    "main": "cli",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
