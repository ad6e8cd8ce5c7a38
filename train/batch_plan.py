"""Every step's global batch, planned before any pixel is touched.

A plan for one step is, for each clip of the global batch (--batch clips, all processes together):
its index, its augmentation choices (dataset.draw_augment) and its tube mask (the visible spatial
positions). The plans come from three seeded generators in a fixed order, so every process of a
distributed run draws the same plans, and one process draws exactly what train.py drew before plans
existed (same generators, same order per generator: the same numbers as before on one process).
A process then loads and augments only its slice of the plan, in the training process or in
DataLoader workers (--workers), which only apply choices and never draw: the clip i of the global
batch gets the same pixels and mask whichever process or worker makes it.

DataLoader workers run ahead of training, and so does the planning: the generators' state at each
step's start is kept until that step has been trained, for the checkpoint.
"""

import torch


class BatchPlanner:
    """Plans of the global batch: sampler (train.BatchSampler) for the clips, dataset.generator (in
    draw_augment) for the augmentation, mask_gen with tube_mask (AdaTosk.tube_mask) for the masks."""

    def __init__(self, sampler, dataset, tube_mask, mask_gen, mask_ratio=None):
        self.sampler, self.dataset = sampler, dataset
        self.tube_mask, self.mask_gen, self.mask_ratio = tube_mask, mask_gen, mask_ratio
        self.drawn = 0                 # plans drawn so far (the step the next plan is for)
        self.saved = {}                # step -> the generators' state before its plan

    def state(self):
        """The generators now (checkpoint keys as train.py has always written them)."""
        return {"sampler": self.sampler.state(), "mask_gen": self.mask_gen.get_state(),
                "aug_gen": self.dataset.generator.get_state()}

    def load(self, state, step):
        self.sampler.load(state["sampler"])
        self.mask_gen.set_state(state["mask_gen"])
        self.dataset.generator.set_state(state["aug_gen"])
        self.drawn, self.saved = step, {}

    def state_at(self, step):
        """The generators' state before the plan of `step` (0-based) was drawn: what a checkpoint
        after `step` trained steps must hold, however far ahead the loader has planned."""
        if step == self.drawn:
            return self.state()
        return self.saved[step]

    def forget_before(self, step):
        """Steps before `step` are trained: no checkpoint will ask for their states."""
        for old in [k for k in self.saved if k < step]:
            del self.saved[old]

    def next(self):
        """-> [(clip index, augmentation choices or None, visible positions [S_v])] * batch."""
        self.saved[self.drawn] = self.state()
        self.drawn += 1
        indices = self.sampler.next()
        choices = [self.dataset.draw_augment() for _ in indices]
        visible, _ = self.tube_mask(len(indices), self.mask_ratio, self.mask_gen)
        return list(zip(indices, choices, visible))


class _PlannedItems(torch.utils.data.Dataset):
    """dataset.sample(i, choices) for a planned (i, choices, visible): what a worker computes."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, planned):
        i, choices, visible = planned
        item = self.dataset.sample(i, choices)
        item["visible"] = visible
        return item


class _RankSlices:
    """The DataLoader's batch sampler: this process's slice of every plan, drawn in the main process."""

    def __init__(self, planner, part):
        self.planner, self.part = planner, part

    def __iter__(self):
        while True:
            yield self.planner.next()[self.part]


def _as_list(items):
    return items


class RankBatches:
    """This process's share of each step: next() -> list of item dicts (dataset.sample's, plus
    "visible", the clip's tube mask). workers 0: made here, just in time; workers N: by N DataLoader
    worker processes, a few steps ahead."""

    def __init__(self, planner, part, workers=0):
        self.planner, self.part, self.workers = planner, part, workers
        self.items = _PlannedItems(planner.dataset)
        self.loader = None

    def next(self):
        if self.workers == 0:
            return [self.items[p] for p in self.planner.next()[self.part]]
        if self.loader is None:
            self.loader = iter(torch.utils.data.DataLoader(
                self.items, batch_sampler=_RankSlices(self.planner, self.part), num_workers=self.workers,
                collate_fn=_as_list, prefetch_factor=2))
        return next(self.loader)
