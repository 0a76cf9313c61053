"""What differs between a CPU and a GPU in CNN training, in one place.

The training loop (:mod:`baselines.cnn.loop`) is one code path for every
device; it asks this module for the few things the hardware decides:

* **Host memory and copies.** On CUDA a batch is gathered into pinned
  (page-locked) host memory and copied with ``non_blocking=True``, so the
  copy overlaps the previous step; on a CPU both are pointless (the "copy" is
  the tensor itself), so :func:`pin_memory` and :func:`non_blocking` are
  false there.
* **cuDNN.** :func:`configure_backends` turns on ``cudnn.benchmark`` on CUDA
  (AlexNet's input shape is fixed, so the autotuner's choice is made once);
  deterministic mode (:mod:`baselines.cnn.reproducibility`) turns it off again.
* **fp16's GradScaler.** Only ``amp_dtype="float16"`` on CUDA needs loss
  scaling (:func:`grad_scaler`); bf16 has fp32's exponent range.
* **The speed switches** (:func:`speed_switches`): bf16 autocast,
  channels-last, ``torch.compile``. Each is a setting of ``TrainConfig``
  (``None`` = this module's rule for the device, ``True``/``False`` = forced)
  and every one of them runs on either device. The rule:

  ========================  ===========================  ===================================
  switch                    CUDA                          CPU
  ========================  ===========================  ===================================
  ``amp`` (bf16 autocast)   on                            **off**: it changes the arithmetic,
                                                          and whether a CPU has native bf16
                                                          (avx512_bf16/AMX) differs by machine;
                                                          a CPU row's numbers must not depend
                                                          on which CPU ran it (measured 1.25x
                                                          on the development EPYC; opt in with
                                                          ``amp=true``, recorded)
  ``channels_last``         on                            on: oneDNN's native conv layout, and
                                                          AlexNet's augmentation already hands
                                                          over NHWC strides (0.99-1.0x)
  ``compile``               on                            on when the run has at least
                                                          :data:`CPU_COMPILE_MIN_STEPS`
                                                          optimiser steps and a C++ compiler
                                                          is on PATH (inductor's CPU backend
                                                          needs one): 1.15x measured, but
                                                          compiling costs ~30-60 s, which a
                                                          short run (a test, a smoke run)
                                                          never earns back
  ========================  ===========================  ===================================

  The trainer writes what ran into every CNN row:
  ``notes["speed_switches"]`` (:meth:`SpeedSwitches.as_note`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

__all__ = [
    "CPU_COMPILE_MIN_STEPS",
    "SpeedSwitches",
    "autocast",
    "configure_backends",
    "grad_scaler",
    "has_cxx_compiler",
    "memory_format",
    "non_blocking",
    "pin_memory",
    "planned_switches",
    "profile_for_device",
    "speed_switches",
    "synchronize",
]

#: compile on a CPU only for runs of at least this many optimiser steps (compile: ~30-60 s)
CPU_COMPILE_MIN_STEPS = 2000


@dataclass(frozen=True)
class SpeedSwitches:
    """The speed switches one training run uses on its device (see the module docstring)."""

    device: str  # "cpu" | "cuda"
    amp: bool  # autocast to amp_dtype
    amp_dtype: str  # "bfloat16" | "float16"
    channels_last: bool  # model and batches in NHWC memory format
    compile: bool  # torch.compile the training model (eager fallback on failure)
    rule: str  # why: "device rule" or which switches were forced by the config

    def as_note(self) -> dict[str, object]:
        """What goes into the row's ``notes["speed_switches"]``."""
        return {
            "device": self.device,
            "autocast": self.amp_dtype if self.amp else None,
            "channels_last": self.channels_last,
            "compile": self.compile,
            "rule": self.rule,
        }


def has_cxx_compiler() -> bool:
    """A C++ compiler for inductor's CPU backend: ``$CXX`` or one of the usual names on PATH."""
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    return any(name and shutil.which(name) for name in names)


def speed_switches(
    device: torch.device | str,
    *,
    amp: bool | None,
    channels_last: bool | None,
    compile: bool | None,
    amp_dtype: str = "bfloat16",
    total_steps: int = 0,
) -> SpeedSwitches:
    """Resolve each switch left at ``None`` by the device's rule; a bool is kept as given."""
    kind = torch.device(device).type
    cuda = kind == "cuda"
    forced = [n for n, v in (("amp", amp), ("channels_last", channels_last), ("compile", compile))
              if v is not None]  # fmt: skip
    if amp is None:
        amp = cuda
    if channels_last is None:
        channels_last = True
    if compile is None:
        compile = cuda or (total_steps >= CPU_COMPILE_MIN_STEPS and has_cxx_compiler())
    rule = "device rule" + (f"; set: {', '.join(forced)}" if forced else "")
    return SpeedSwitches(kind, bool(amp), amp_dtype, bool(channels_last), bool(compile), rule)


def planned_switches(compile: bool | None, device: str, run_steps: int) -> dict[str, bool]:
    """The switches a short fit must pin to run as a run of ``run_steps`` optimiser steps
    per member does: ``compile``, which the device's rule turns on from a number of
    steps (a parameter left at None). ``harness plan`` times fits of a few steps; timed
    eager, ZFNet's 2,816-step run (compiled) was projected 1.7x too long."""
    if compile is not None:
        return {}
    run = speed_switches(device, amp=None, channels_last=None, compile=None, total_steps=run_steps)
    return {"compile": run.compile}


def autocast(switches: SpeedSwitches, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast to the switches' dtype on ``device`` when ``amp`` is on; a no-op otherwise."""
    if not switches.amp:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if switches.amp_dtype == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def memory_format(switches: SpeedSwitches) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batch layout the model wants: channels-last 4-d batches when asked, else unchanged."""
    if switches.channels_last:
        return lambda x: x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
    return lambda x: x


def grad_scaler(switches: SpeedSwitches) -> torch.amp.GradScaler | None:
    """fp16 autocast on CUDA needs loss scaling; bf16 and fp32 (any device) do not."""
    if switches.device == "cuda" and switches.amp and switches.amp_dtype == "float16":
        return torch.amp.GradScaler("cuda")
    return None


def pin_memory(device: torch.device) -> bool:
    """Gather host batches into page-locked memory (only a CUDA copy can use it)."""
    return device.type == "cuda"


def non_blocking(device: torch.device) -> bool:
    """Copy to the device asynchronously (from pinned memory; a no-op copy on a CPU)."""
    return device.type == "cuda"


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """cuDNN's autotuner on CUDA for fixed input shapes; left alone in deterministic mode."""
    if device.type == "cuda" and not deterministic:
        torch.backends.cudnn.benchmark = True


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA kernels run asynchronously); a no-op on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_for_device(profile: str, device: str, profiles: Iterable[str]) -> str:
    """A network's recipe for ``device``: ``"auto"`` -> ``"paper"`` on CUDA, ``"cpu"`` elsewhere;
    a named profile (one of ``profiles``) stays itself."""
    if profile == "auto":
        return "paper" if str(device).startswith("cuda") else "cpu"
    if profile not in profiles:
        raise ValueError(f"profile must be 'auto' or one of {sorted(profiles)}, got {profile!r}")
    return profile
