"""One process of the CPU data-parallel test; launched by torchrun from test_alexnet_ddp.py.

argv: work_dir out_dir params_json. Trains AlexNetBaseline under gloo on the
synthetic colour split, then writes the weights' digest and how many training
images this rank saw to ``out_dir/rank<RANK>.txt``, and the random numbers its
augmentation was about to draw before every batch to ``out_dir/draws<RANK>.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch
import torch.distributed as dist

from alexnet.augment import AlexNetAugment
from alexnet.baseline import AlexNetBaseline
from harness.api import RunContext, fit_method, handover
from tests.fixtures.colour import colour_split


def digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for t in model.state_dict().values():
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    work_dir, out_dir, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # env:// from torchrun
    rank = dist.get_rank()
    seen = [0]
    draws = []
    real = AlexNetAugment.train

    def counting(self, images, generator=None):
        seen[0] += len(images)
        state = generator.get_state()  # peek at what the crops/flips/noise will draw
        draws.append(torch.randint(0, 2**30, (4,), generator=generator).tolist())
        generator.set_state(state)
        return real(self, images, generator)

    AlexNetAugment.train = counting
    try:
        ctx = RunContext(work_dir=work_dir, cache_dir=work_dir, quiet=True, seed=0)
        train = colour_split(8)
        model = AlexNetBaseline(**params)
        fit_method(model, handover(train), train, ctx)  # as the runner: all of train, no refit
        with open(os.path.join(out_dir, f"rank{rank}.txt"), "w") as f:
            f.write(f"{digest(model.models_[0])} {seen[0]} {ctx.notes['trained_on_processes']}\n")
        with open(os.path.join(out_dir, f"draws{rank}.json"), "w") as f:
            json.dump(draws, f)
        if rank == 0:
            model.write_ddp_marker(ctx, {"world_size": dist.get_world_size()})
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
