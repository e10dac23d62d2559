"""ftlib.load.config: what load to send, validated when it is built."""

from __future__ import annotations

import re

import pytest

from ftlib.errors import SpecError
from ftlib.load.config import LoadConfig

EXACTLY_ONE = "a load needs exactly one of request_count, duration_seconds or duration_minutes"


def test_a_count_load_has_no_duration_and_no_default_rate():
    config = LoadConfig(request_count=50, concurrency=4)

    assert config.duration is None
    assert config.effective_request_rate is None


def test_a_duration_load_is_paced_at_twice_the_concurrency_by_default():
    config = LoadConfig(duration_seconds=30, concurrency=4)

    assert config.duration == 30.0
    assert config.effective_request_rate == 8.0


def test_an_explicit_request_rate_wins_for_both_kinds_of_load():
    assert LoadConfig(duration_seconds=30, concurrency=4, request_rate=1.5).effective_request_rate == 1.5
    assert LoadConfig(request_count=10, request_rate=3).effective_request_rate == 3


def test_duration_minutes_are_seconds_times_sixty():
    assert LoadConfig(duration_minutes=1.5).duration == 90.0


@pytest.mark.parametrize("given", [
    {},
    {"request_count": 10, "duration_seconds": 5},
    {"request_count": 10, "duration_minutes": 1},
    {"duration_seconds": 5, "duration_minutes": 1},
], ids=["none", "count-and-seconds", "count-and-minutes", "seconds-and-minutes"])
def test_a_load_needs_exactly_one_of_request_count_or_a_duration(given):
    with pytest.raises(SpecError) as error:
        LoadConfig(**given)
    assert str(error.value).startswith(EXACTLY_ONE)
    assert f"request_count={given.get('request_count')}" in str(error.value)


@pytest.mark.parametrize("count", [0, -5, 2.5, True, 100_001])
def test_request_count_must_be_a_whole_number_of_at_least_one(count):
    with pytest.raises(SpecError, match=re.escape(f"load request_count must be a whole number from 1 to 100000, got {count!r}")):
        LoadConfig(request_count=count)


@pytest.mark.parametrize("value", [0, -1, 0.001, 0.999, float("nan"), float("inf"), 3601])
def test_a_duration_in_seconds_must_be_from_the_shortest_load_every_client_honours_to_an_hour(value):
    with pytest.raises(SpecError) as error:
        LoadConfig(duration_seconds=value)

    assert str(error.value) == ("load duration_seconds must be a number of seconds from 1 to 3600 (1 hour), "
                                f"got {value!r}")


@pytest.mark.parametrize("value, message", [
    (0.0, "load duration_minutes must be a number more than 0 and at most 60 minutes (1 hour), got 0.0"),
    (61, "load duration_minutes must be a number more than 0 and at most 60 minutes (1 hour), got 61"),
    (0.01, "load duration_minutes must be at least 0.01667 minutes (1 s, the shortest load every client sends "
           "requests in), got 0.01")])
def test_a_duration_in_minutes_has_the_same_bounds(value, message):
    with pytest.raises(SpecError) as error:
        LoadConfig(duration_minutes=value)

    assert str(error.value) == message


def test_a_one_second_load_is_the_shortest_one_accepted():
    assert LoadConfig(duration_seconds=1).duration == 1.0


def test_a_paced_load_must_be_due_to_send_at_least_one_request():
    with pytest.raises(SpecError) as error:
        LoadConfig(concurrency=2, duration_seconds=5, request_rate=0.1)

    assert str(error.value) == ("a load of 5 s at 0.1 requests per second is due to send 0.5 requests, so possibly "
                                "none; give it at least 10 s or a request_rate of at least 0.2")
    assert LoadConfig(concurrency=2, duration_seconds=10, request_rate=0.1).request_rate == 0.1


def test_prompt_and_output_together_must_fit_the_models_context():
    with pytest.raises(SpecError) as error:
        LoadConfig(request_count=5, input_tokens_mean=8000, output_tokens_mean=500)

    assert str(error.value) == ("load input_tokens_mean + output_tokens_mean must be at most 8192 (the model's context "
                                "holds prompt and output), got 8000 + 500 = 8500")


def test_a_load_holds_at_most_its_concurrency_or_its_request_count_in_flight():
    assert (LoadConfig(concurrency=4, request_count=100).max_in_flight, LoadConfig(concurrency=4, request_count=3)
            .max_in_flight, LoadConfig(concurrency=4, duration_seconds=5).max_in_flight) == (4, 3, 4)


@pytest.mark.parametrize("field", ["concurrency", "input_tokens_mean", "output_tokens_mean"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, 100_000])
def test_sizes_must_be_whole_numbers_of_at_least_one_and_bounded(field, value):
    with pytest.raises(SpecError, match=re.escape(f"load {field} must be a whole number from 1 to ") + r"\d+, got "):
        LoadConfig(request_count=1, **{field: value})


@pytest.mark.parametrize("field", ["request_rate", "request_timeout_seconds"])
@pytest.mark.parametrize("value", [0, -2.0, float("inf"), 1e9])
def test_rates_and_timeouts_must_be_more_than_zero_and_bounded(field, value):
    with pytest.raises(SpecError, match=f"load {field} must be a number (of seconds )?more than 0 and at most .*, got {value!r}"):
        LoadConfig(request_count=1, **{field: value})


def test_warmup_requests_must_be_at_least_one_when_given():
    with pytest.raises(SpecError, match=re.escape("load warmup_requests (or unset) must be a whole number from 1 to 100000, got 0")):
        LoadConfig(request_count=1, warmup_requests=0)


def test_expected_seconds_of_a_count_load_grows_with_requests_and_shrinks_with_concurrency():
    slow = LoadConfig(request_count=100, concurrency=1)
    fast = LoadConfig(request_count=100, concurrency=10)

    assert slow.expected_seconds > fast.expected_seconds > 10
    assert LoadConfig(duration_seconds=42).expected_seconds == 42


def test_the_hard_timeout_every_client_uses_is_start_plus_twice_the_expected_run_plus_a_request_and_a_minute():
    config = LoadConfig(duration_seconds=100, request_timeout_seconds=30)

    assert config.hard_timeout(90) == 90 + 200 + 30 + 60
