"""ftlib.scenario: every scenario of a run gets an evidence folder of its own, also when two names
share their first 120 characters, and finding one is bounded."""

from __future__ import annotations

from ftlib.scenario import SLUG_LENGTH, slug, unique_slug

LONG = "a worker is killed while the frontend keeps serving and the router moves every request " * 2


def test_a_name_no_other_scenario_has_is_its_slug():
    assert unique_slug("mocker agg: a pod is deleted", set()) == "mocker_agg_a_pod_is_deleted"


def test_a_second_scenario_of_the_same_name_gets_the_next_number():
    taken = {"x"}
    assert unique_slug("x", taken) == "x_2"
    assert unique_slug("x", taken | {"x_2"}) == "x_3"


def test_two_names_sharing_their_first_120_characters_get_two_folders_that_keep_the_number():
    first, second = LONG + "one", LONG + "two"
    assert slug(first) == slug(second)

    folder = unique_slug(second, {slug(first)})

    assert folder != slug(first)
    assert len(folder) == SLUG_LENGTH and folder.endswith("_2")


def test_many_scenarios_sharing_a_long_prefix_each_get_a_folder_of_their_own():
    taken: set[str] = set()
    for number in range(150):
        taken.add(unique_slug(f"{LONG} variant {number}", taken))

    assert len(taken) == 150
    assert all(len(folder) <= SLUG_LENGTH for folder in taken)


def test_a_long_name_ending_in_the_number_it_would_get_still_finds_a_free_folder():
    base = "b" * (SLUG_LENGTH - 2) + "_2"  # its own slug is what "<slug>_2" would be, cut to 120
    assert unique_slug(base, {base}) == "b" * (SLUG_LENGTH - 2) + "_3"
