"""The batch plan (deterministic, resumable, disjoint across ranks) and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
from corrwise.errors import ConfigError
from corrwise.train.config import OptimSection
from corrwise.train.optim import lr_at
from corrwise.train.sampler import StepBatches


def test_every_epoch_visits_each_sample_once():
    plan = StepBatches(length=12, batch_size=4, steps=6)
    batches = list(plan)
    assert len(batches) == 6
    first = [i for b in batches[:3] for i in b]
    second = [i for b in batches[3:] for i in b]
    assert sorted(first) == list(range(12)) and sorted(second) == list(range(12))
    assert first != second  # a fresh permutation per epoch


def test_resuming_at_a_step_gives_the_same_batches():
    full = list(StepBatches(length=10, batch_size=3, steps=9, seed=5))
    tail = list(StepBatches(length=10, batch_size=3, steps=9, start_step=4, seed=5))
    assert tail == full[4:]


def test_ranks_split_each_global_batch_without_overlap():
    ranks = [
        list(StepBatches(length=16, batch_size=2, steps=4, seed=1, rank=r, world_size=2)) for r in (0, 1)
    ]
    single = list(StepBatches(length=16, batch_size=4, steps=4, seed=1))
    for step in range(4):
        assert not set(ranks[0][step]) & set(ranks[1][step])
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(single[step])


def test_seeds_change_the_order():
    assert list(StepBatches(20, 5, 4, seed=0)) != list(StepBatches(20, 5, 4, seed=1))


def test_bad_plans_are_refused():
    with pytest.raises(ConfigError, match="empty"):
        StepBatches(0, 2, 3)
    with pytest.raises(ConfigError):
        StepBatches(5, 2, 3, rank=2, world_size=2)


def test_warmup_then_cosine_reaches_the_floor():
    optim = OptimSection(lr=1e-3, schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    total = 111  # steps 10..110 decay: halfway at step 60
    assert lr_at(0, optim, total) == pytest.approx(1e-4)
    assert lr_at(9, optim, total) == pytest.approx(1e-3)
    assert lr_at(10, optim, total) == pytest.approx(1e-3)
    assert lr_at(60, optim, total) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    assert lr_at(110, optim, total) == pytest.approx(1e-4)


def test_step_and_constant_schedules():
    step = OptimSection(lr=1e-2, schedule="step", step_size=5, gamma=0.5)
    assert [lr_at(s, step, 100) for s in (0, 4, 5, 10)] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3])
    assert lr_at(77, OptimSection(lr=3e-4), 100) == pytest.approx(3e-4)


def test_optimiser_options_are_checked():
    with pytest.raises(ConfigError, match=r"optim\.name"):
        OptimSection(name="sgd")
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        OptimSection(lr=0)
    with pytest.raises(ConfigError, match="schedule"):
        OptimSection(schedule="linear")
