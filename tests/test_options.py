"""ftlib.options: run options from behave's userdata (``-D key=value``)."""

from __future__ import annotations

import pytest

from ftlib.errors import SpecError
from ftlib.options import RunOptions

ALLOWED = "platform, namespace, image, storage_class, skip_service_restart, kube_context, allow_namespace, load_image, keep_resources, kube_log_tee, client_type, output_dir, dry_run, seed"


def test_no_userdata_gives_the_defaults():
    assert RunOptions.from_userdata({}) == RunOptions()
    assert RunOptions() == RunOptions(platform="local", namespace="fault-tolerance-test", client_type="aiperf",
                                      output_dir="test_outputs", dry_run=False, skip_service_restart=True)


def test_behave_ini_userdata_is_accepted_as_is():
    options = RunOptions.from_userdata({"platform": "local", "namespace": "fault-tolerance-test",
                                        "client_type": "aiperf", "output_dir": "test_outputs", "dry_run": "false"})

    assert options == RunOptions()


def test_an_unknown_key_is_rejected_naming_the_allowed_keys():
    with pytest.raises(SpecError) as error:
        RunOptions.from_userdata({"foo": "kubernetes"})
    assert str(error.value) == f"unknown option -D foo; allowed: {ALLOWED}"


@pytest.mark.parametrize("typo, meant", [("platfrom", "platform"), ("outputdir", "output_dir"), ("dryrun", "dry_run"),
                                         ("keep_resource", "keep_resources"), ("namspace", "namespace")])
def test_a_mistyped_key_names_the_nearest_known_one(typo, meant):
    with pytest.raises(SpecError) as error:
        RunOptions.from_userdata({typo: "x"})
    assert str(error.value) == f"unknown option -D {typo} (did you mean -D {meant}?); allowed: {ALLOWED}"


@pytest.mark.parametrize("key, typo, message", [
    ("platform", "locl", "unknown platform 'locl' (did you mean local?); allowed: local, kubernetes"),
    ("platform", "kubernets", "unknown platform 'kubernets' (did you mean kubernetes?); allowed: local, kubernetes"),
    ("client_type", "aipref", "unknown client_type 'aipref' (did you mean aiperf?); allowed: aiperf, legacy")])
def test_a_mistyped_platform_or_client_names_the_nearest_known_one(key, typo, message):
    with pytest.raises(SpecError) as error:
        RunOptions.from_userdata({key: typo})
    assert str(error.value) == message


@pytest.mark.parametrize("text", ["1", "true", "True", "YES", "on", " yes "])
def test_true_words_parse_as_true(text):
    assert RunOptions.from_userdata({"dry_run": text}).dry_run is True


@pytest.mark.parametrize("text", ["0", "false", "No", "OFF"])
def test_false_words_parse_as_false(text):
    assert RunOptions.from_userdata({"skip_service_restart": text}).skip_service_restart is False


def test_a_real_bool_is_taken_as_is():
    assert RunOptions.from_userdata({"dry_run": True}).dry_run is True


def test_a_bool_option_rejects_other_words():
    with pytest.raises(SpecError, match="option keep_resources takes true or false, got 'maybe'"):
        RunOptions.from_userdata({"keep_resources": "maybe"})
    with pytest.raises(SpecError, match="option dry_run takes true, false or server, got 'maybe'"):
        RunOptions.from_userdata({"dry_run": "maybe"})


def test_an_unknown_platform_is_rejected_naming_the_platforms():
    with pytest.raises(SpecError, match="unknown platform 'docker'; allowed: local, kubernetes"):
        RunOptions.from_userdata({"platform": "docker"})


def test_an_unknown_client_type_is_rejected_naming_the_clients():
    with pytest.raises(SpecError, match="unknown client_type 'curl'; allowed: aiperf, legacy"):
        RunOptions.from_userdata({"client_type": "curl"})


def test_an_empty_output_dir_is_rejected():
    with pytest.raises(SpecError, match="output_dir must not be empty"):
        RunOptions.from_userdata({"output_dir": ""})


def test_an_empty_optional_value_means_unset():
    options = RunOptions.from_userdata({"image": "", "storage_class": "standard-rwx"})

    assert options.image is None
    assert options.storage_class == "standard-rwx"


def test_allure_formatter_keys_belong_to_allure_and_are_ignored():
    options = RunOptions.from_userdata({"AllureFormatter.issue_pattern": "https://x/{}",
                                        "AllureFormatter.link_pattern": "https://y/{}",
                                        "platform": "kubernetes", "namespace": "ft", "dry_run": "true",
                                        "image": "reg/dynamo:1.6.1"})

    assert (options.platform, options.namespace) == ("kubernetes", "ft")


def test_the_kubernetes_platform_takes_its_cluster_options():
    options = RunOptions.from_userdata({"platform": "kubernetes", "namespace": "ft", "kube_context": "lab",
                                        "load_image": "reg/aiperf:0.13.0", "keep_resources": "true"})

    assert (options.kube_context, options.load_image, options.keep_resources) == ("lab", "reg/aiperf:0.13.0", True)


def test_the_default_and_kube_system_namespaces_are_refused_unless_named_by_allow_namespace():
    with pytest.raises(SpecError, match="namespace 'default' is refused.*allow_namespace=default"):
        RunOptions.from_userdata({"platform": "kubernetes", "namespace": "default"})
    with pytest.raises(SpecError, match="namespace 'kube-system' is refused"):
        RunOptions.from_userdata({"platform": "kubernetes", "namespace": "kube-system", "allow_namespace": "default"})

    assert RunOptions.from_userdata({"platform": "kubernetes", "namespace": "default", "image": "reg/dynamo:1.6.1",
                                     "allow_namespace": "default"}).namespace == "default"


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        RunOptions().platform = "kubernetes"  # type: ignore[misc]


def test_a_seed_is_a_whole_number_and_anything_else_is_refused_naming_the_range():
    assert RunOptions.from_userdata({"seed": "1234"}).seed == 1234
    assert RunOptions.from_userdata({}).seed is None
    for bad in ("-1", "1.5", "abc", str(2**32)):
        with pytest.raises(SpecError, match="option seed takes a whole number from 0 to 4294967295"):
            RunOptions.from_userdata({"seed": bad})


@pytest.mark.parametrize("option, value, rule", [
    ("namespace", "Fault_Tests", "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a "
                                 "letter or digit, at most 63 characters"),
    ("namespace", "ft-" + "x" * 61, "a DNS-1123 label"),
    ("storage_class", "NFS RWX", "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting "
                                 "and ending with a letter or digit, at most 253 characters"),
], ids=["namespace-with-capitals", "namespace-of-64-characters", "storage-class-with-a-space"])
def test_a_kubernetes_name_the_api_would_refuse_is_refused_before_anything_runs(option, value, rule):
    with pytest.raises(SpecError) as error:
        RunOptions.from_userdata({"platform": "kubernetes", "image": "reg/dynamo:1.6.1", option: value})

    assert str(error.value).startswith(f"-D {option}={value}: Kubernetes refuses this name; give {rule}")


def test_the_kubernetes_platform_needs_an_image_for_its_load_jobs():
    with pytest.raises(SpecError) as error:
        RunOptions.from_userdata({"platform": "kubernetes", "namespace": "ft"})

    assert str(error.value) == ("-D platform=kubernetes runs each load as a Job, which needs an image with aiperf "
                                "0.13.0: set -D load_image=<image> (or -D image=<image> for every service and the load, "
                                "or -D load_image=pip-install to pip install it in python:3.12-slim, which needs "
                                "egress to PyPI)")
    assert RunOptions.from_userdata({"platform": "kubernetes", "load_image": "pip-install"}).load_image == "pip-install"


def test_dry_run_server_asks_the_cluster_and_so_needs_the_kubernetes_platform():
    assert RunOptions.from_userdata({"dry_run": "server", "platform": "kubernetes", "namespace": "ft",
                                     "image": "registry.example/dynamo:1"}).dry_run == "server"
    with pytest.raises(SpecError, match="-D dry_run=server asks a Kubernetes API server to judge the manifests: "
                                        "it needs -D platform=kubernetes"):
        RunOptions.from_userdata({"dry_run": "server"})
