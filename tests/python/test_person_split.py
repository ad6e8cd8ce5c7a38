"""train/person_split.py and evaluate.within_group_auc: which part of the training signal (between
people, within a person) a model's ranking of new people comes from.

- within_group_auc counts only pairs of one person: a score that only tells people apart is at
  chance there while the pooled AUC is perfect, and one that follows every change within each
  person is 1 whatever the people's offsets;
- person_centred takes each person's mean away and keeps the mean over people;
- on features with one direction that tells people apart and another that changes within a
  person, the between head learns the first and the within head the second;
- end to end on a tiny model and real clip files: one row per head and set, in the JSON too.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, HERE)

import person_split  # noqa: E402
from adatosk.config import named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import save_model  # noqa: E402
from evaluate import auc, within_group_auc  # noqa: E402
from test_training import TINY, make_clip_set  # noqa: E402

torch.set_num_threads(1)


def test_within_group_auc_counts_pairs_of_one_person_only():
    groups = np.repeat(["a", "b", "c", "d"], 6)
    # a and b are all positive, c and d all negative; each person has two positives in the middle
    # only in the second example
    who = np.repeat([1.0, 1.0, 0.0, 0.0], 6)
    change = np.tile([0, 0, 1, 1, 0, 0], 4).astype(bool)
    scores = who + np.tile(np.linspace(0, 0.1, 6), 4)        # tells people apart, not moments
    assert auc(scores, who > 0) == 1.0
    assert np.isnan(within_group_auc(scores, who > 0, groups))  # no person has both classes
    assert within_group_auc(scores, change, groups) == 0.5     # ranks the middle clips at chance
    follows = 10 * who + change                                  # follows every change, offsets apart
    assert within_group_auc(follows, change, groups) == 1.0
    assert auc(follows, change) < 0.8                            # pooled pairs of two people mislead
    # a group holding more pairs weighs more: person a perfect (9 pairs), person b reversed (1 pair)
    g2 = np.array(["a"] * 6 + ["b"] * 2)
    y2 = np.array([1, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    s2 = np.array([3, 3, 3, 1, 1, 1, 0, 1], dtype=float)
    assert within_group_auc(s2, y2, g2) == 0.9


def test_person_centred_removes_each_persons_mean():
    rng = np.random.default_rng(0)
    ids = np.array(["p", "p", "q", "q", "q", "r"])
    f = rng.normal(size=(6, 4))
    c, centre = person_split.person_centred(f, ids)
    means = {i: f[ids == i].mean(0) for i in "pqr"}
    np.testing.assert_allclose(centre, np.mean(list(means.values()), 0), atol=1e-12)
    for i in "pqr":
        np.testing.assert_allclose(c[ids == i].mean(0), centre, atol=1e-12)
        np.testing.assert_allclose(c[ids == i] - c[ids == i].mean(0), f[ids == i] - means[i], atol=1e-12)
    # another set's people are moved onto the given reference (the training people's centre)
    ref = np.arange(4.0)
    c2, _ = person_split.person_centred(f, ids, reference=ref)
    for i in "pqr":
        np.testing.assert_allclose(c2[ids == i].mean(0), ref, atol=1e-12)


def test_heads_learn_their_part_of_the_signal():
    """Feature 0 is each person's own (their photo smiles or not), feature 1 is a change within
    the person (a warp); the label follows both. The between head leans on feature 0, the within
    head on feature 1, the clips head on both."""
    rng = np.random.default_rng(1)
    people, per = 40, 10
    ids = np.repeat(np.arange(people).astype(str), per)
    smiles = np.repeat(rng.random(people) < 0.5, per)
    warp = np.tile(np.arange(per) >= per // 2, people)
    f = np.stack([smiles * 2.0 - 1.0, warp * 2.0 - 1.0, rng.normal(size=people * per)], 1)
    f[:, :2] += rng.normal(0, 0.3, (people * per, 2))
    happy = (smiles.astype(int) + warp.astype(int) + rng.random(people * per) * 0.9) >= 1.5
    t = np.stack([~happy, happy], 1).astype(float) * 0.9 + 0.05
    heads = person_split.fit_heads(f, t, np.ones(len(f)), ids, l2=1e-2)

    def lean(W):           # how much the happy-vs-neutral direction uses feature 0 against feature 1
        d = W[1] - W[0]
        return abs(d[0]) / (abs(d[0]) + abs(d[1]))

    assert lean(heads["between"][0]) > 0.8
    assert lean(heads["within"][0]) < 0.2
    assert 0.2 < lean(heads["clips"][0]) < 0.8


def test_end_to_end_rows_for_every_head_and_set(tmp_path):
    csv_path = make_clip_set(str(tmp_path / "ds"), n=9)
    # three people (video column), three clips each
    lines = open(csv_path).read().splitlines()
    with open(csv_path, "w") as f:
        f.write(lines[0] + ",video\n" + "".join(f"{row},p{i // 3}\n" for i, row in enumerate(lines[1:])))
    torch.manual_seed(0)
    config = named_config("adatosk-tiny", **TINY)
    src = str(tmp_path / "model.safetensors")
    save_model(src, AdaTosk(config, with_decoder=True), config)
    out = str(tmp_path / "split.json")
    assert person_split.main([src, "--train", csv_path, "--set", f"same={csv_path}", "--json", out]) == 0
    report = json.load(open(out))
    assert report["people"] == 3
    assert [(r["set"], r["head"]) for r in report["results"]] == [("same", h) for h in person_split.HEADS]
    for r in report["results"]:
        assert r["metrics"]["clips"] == 9 and set(r["metrics"]["auc_within_person"]) == set(r["metrics"]["auc"])
