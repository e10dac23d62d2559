"""The loads' random seed: chosen once per scenario unless given (-D seed=N), one more for each
later load, logged, and never overriding a seed the load's own config names."""

from __future__ import annotations

import logging

from fake_deployment import FakeDeployment, context_with
from ftlib.events import StartLoad
from ftlib.load.config import LoadConfig


def loads(tmp_path, seed=None, count=2, config_seed=None):
    ctx = context_with(FakeDeployment(), tmp_path)
    ctx.seed = seed
    events = [StartLoad(LoadConfig(concurrency=1, request_count=5, random_seed=config_seed), name=f"l{n}")
              for n in range(count)]
    ctx.events += events
    return ctx, events


def test_a_given_seed_is_used_and_each_later_load_gets_the_next_one(tmp_path):
    ctx, (first, second) = loads(tmp_path, seed=1234)
    assert [first.seeded(ctx).random_seed, second.seeded(ctx).random_seed] == [1234, 1235]


def test_without_a_seed_one_is_chosen_once_for_the_scenario_and_logged(tmp_path, caplog):
    ctx, (first, second) = loads(tmp_path)
    with caplog.at_level(logging.INFO, logger="ftlib.events"):
        chosen = first.seeded(ctx).random_seed
        assert second.seeded(ctx).random_seed == chosen + 1
    assert ctx.seed == chosen
    assert f"random seed {chosen} chosen for this scenario's loads (-D seed={chosen} reproduces them)" in caplog.text


def test_a_seed_in_the_load_config_wins(tmp_path):
    ctx, (only,) = loads(tmp_path, seed=1234, count=1, config_seed=7)
    assert only.seeded(ctx).random_seed == 7
