"""The recipes a study pilots: :class:`Candidate`, the built-in set, and the loop's config of one.

Everything not in a candidate is the ``cpu`` profile's and the paper's (see
the package docstring). :func:`pilot_config` turns a candidate into the
shared loop's :class:`~baselines.cnn.config.TrainConfig` for a pilot of
``segments`` equal stretches of steps (one monitor evaluation after each).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from alexnet.model import STEMS
from alexnet.recipe import PAPER, PROFILES
from baselines.cnn.config import TrainConfig

__all__ = [
    "DEFAULT_CANDIDATES",
    "REFERENCE_BATCH",
    "SCHEDULES",
    "Candidate",
    "candidate",
    "parse_candidate",
    "pilot_config",
]

SCHEDULES = ("warmup-cosine", "cosine", "constant", "plateau")
REFERENCE_BATCH = 128  # the batch at which a candidate's lr128 is given (the paper's batch)


@dataclass(frozen=True)
class Candidate:
    """One recipe to pilot; everything not here is the ``cpu`` profile's (module docstring)."""

    name: str
    schedule: str  # one of SCHEDULES
    lr: float  # peak learning rate at batch_size
    batch_size: int  # images per SGD step
    width: float  # layer-width multiplier (alexnet.model)
    warmup: float = 0.0  # "warmup-cosine": fraction of the pilot's steps warming up linearly
    plateau_patience: int = PAPER.plateau_patience  # "plateau": evaluations without improvement
    stem: str = "small"  # conv1 geometry; sets the crop (small: 56 of 64)
    init: str = "kaiming"  # alexnet.model.INITS

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not self.lr > 0 or self.batch_size < 1 or not 0 < self.width <= 1:
            raise ValueError(f"{self.name}: need lr > 0, batch_size >= 1, 0 < width <= 1")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"{self.name}: warmup is a fraction of the steps in [0, 1)")
        if self.schedule == "warmup-cosine" and self.warmup <= 0:
            raise ValueError(f"{self.name}: 'warmup-cosine' needs warmup > 0 (or use 'cosine')")

    @property
    def crop(self) -> int:
        return STEMS[self.stem].crop

    @property
    def lr128(self) -> float:
        """The lr this candidate's is at batch 128 under the linear scaling rule."""
        return self.lr * REFERENCE_BATCH / self.batch_size


def candidate(
    schedule: str,
    lr128: float,
    batch_size: int = REFERENCE_BATCH,
    width: float = 0.5,
    warmup: float = 0.1,
    name: str | None = None,
) -> Candidate:
    """A candidate whose lr is ``lr128`` scaled linearly to ``batch_size``."""
    warm = warmup if schedule == "warmup-cosine" else 0.0
    label = name or f"{schedule} lr128={lr128:g} batch={batch_size} width={width:g}" + (
        f" warmup={warm:g}" if warm else ""
    )
    return Candidate(
        name=label,
        schedule=schedule,
        lr=lr128 * batch_size / REFERENCE_BATCH,
        batch_size=batch_size,
        width=width,
        warmup=warm,
    )


_V1 = PROFILES["cpu"]
#: the default study: the committed profile, the plateau rule at a higher lr, warm-up + cosine
#: over lr 0.01-0.04 (batch 128) and at batch 64, the same without warm-up at the highest lr,
#: and width 0.75
DEFAULT_CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate(
            "profile-v1",
            "plateau",
            lr=_V1.lr,
            batch_size=_V1.batch_size,
            width=_V1.width,
            stem=_V1.stem,
            init=_V1.init,
        ),
        candidate("plateau", 0.02, name="plateau-0.02"),
        candidate("warmup-cosine", 0.01, name="cosine-0.01"),
        candidate("warmup-cosine", 0.02, name="cosine-0.02"),
        candidate("warmup-cosine", 0.02, batch_size=64, name="cosine-0.02-b64"),
        candidate("warmup-cosine", 0.04, name="cosine-0.04"),
        candidate("cosine", 0.04, name="cosine-0.04-no-warmup"),
        candidate("warmup-cosine", 0.02, width=0.75, name="cosine-0.02-w0.75"),
    )
}


def parse_candidate(spec: str) -> Candidate:
    """``"schedule=warmup-cosine,lr128=0.02,batch=128,width=0.75,warmup=0.1[,name=x]"``.

    ``lr=`` gives the lr at ``batch`` directly instead of ``lr128``.
    """
    fields: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"--candidate {spec!r}: {part!r} is not KEY=VALUE")
        key, value = (s.strip() for s in part.split("=", 1))
        fields[key] = value
    known = {"schedule", "lr128", "lr", "batch", "width", "warmup", "name", "patience"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"--candidate {spec!r}: unknown keys {unknown}; known: {sorted(known)}")
    schedule = fields.get("schedule", "warmup-cosine")
    batch = int(fields.get("batch", REFERENCE_BATCH))
    width = float(fields.get("width", 0.5))
    if "lr" in fields and "lr128" in fields:
        raise ValueError(f"--candidate {spec!r}: give lr or lr128, not both")
    lr128 = float(fields["lr"]) * REFERENCE_BATCH / batch if "lr" in fields else None
    lr128 = float(fields.get("lr128", 0.02)) if lr128 is None else lr128
    c = candidate(
        schedule, lr128, batch, width, float(fields.get("warmup", 0.1)), fields.get("name")
    )
    if "patience" in fields:
        c = dataclasses.replace(c, plateau_patience=int(fields["patience"]))
    return c


def pilot_config(c: Candidate, segments: int, eval_batch_size: int = 256) -> TrainConfig:
    """The shared loop's config of a pilot of ``c``: one "epoch" per segment between evaluations.

    ``warmup-cosine`` warms up linearly over the first ``c.warmup`` of the steps,
    then falls as a cosine to 0 at the last step; ``cosine`` is the same without
    the warm-up; ``plateau`` divides by 10 after ``c.plateau_patience``
    evaluations in a row without a lower monitor top-1 error, at most
    ``PAPER.max_lr_drops`` times; ``constant`` keeps ``c.lr``.
    """
    schedule = {"warmup-cosine": "cosine"}.get(c.schedule, c.schedule)
    return TrainConfig(
        epochs=segments,
        batch_size=c.batch_size,
        lr=c.lr,
        momentum=PAPER.momentum,
        weight_decay=PAPER.weight_decay,
        lr_schedule=schedule,
        warmup_epochs=c.warmup * segments if c.schedule == "warmup-cosine" else 0.0,
        plateau_patience=c.plateau_patience,
        lr_drop_factor=PAPER.lr_drop_factor,
        max_lr_drops=PAPER.max_lr_drops,
        drop_last=True,
        eval_batch_size=eval_batch_size,
    )
