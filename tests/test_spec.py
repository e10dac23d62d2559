"""ftlib.spec: the shipped deployments, Dynamo's own examples (upstream naming), errors and edits."""

from __future__ import annotations

import copy

import pytest
import yaml

from ftlib.errors import SpecError
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec
from tests.conftest import DATA

# -- the deployments this project ships ---------------------------------------------------------

SHIPPED_SERVICES = {
    ("vllm", "agg"): {"Frontend", "VllmWorker"},
    ("vllm", "disagg"): {"Frontend", "VllmPrefillWorker", "VllmDecodeWorker"},
    ("trtllm", "agg"): {"Frontend", "TRTLLMWorker"},
    ("trtllm", "disagg"): {"Frontend", "TRTLLMPrefillWorker", "TRTLLMDecodeWorker"},
    ("sglang", "agg"): {"Frontend", "SglangWorker"},
    ("sglang", "disagg"): {"Frontend", "SglangPrefillWorker", "SglangDecodeWorker"},
    ("mocker", "agg"): {"Frontend", "decode"},
    ("mocker", "disagg"): {"Frontend", "prefill", "decode"},
}
SHIPPED = sorted(SHIPPED_SERVICES)


def test_every_backend_and_topology_has_a_shipped_spec():
    assert set(SHIPPED_SERVICES) == {(b, t) for b in BACKENDS for t in TOPOLOGIES}


@pytest.mark.parametrize("backend, topology", SHIPPED, ids=[f"{b}-{t}" for b, t in SHIPPED])
def test_shipped_spec_has_the_services_of_its_backend_and_topology(backend, topology):
    spec = get_deployment_spec(backend, topology)

    assert set(spec.services) == SHIPPED_SERVICES[backend, topology]
    assert spec.frontend.name == "Frontend"
    assert (spec.backend, spec.topology) == (backend, topology)
    assert spec.source == f"ftlib/specs/{backend}-{topology}.yaml"


@pytest.mark.parametrize("backend, topology", SHIPPED, ids=[f"{b}-{t}" for b, t in SHIPPED])
def test_shipped_spec_applies_replicas_to_every_worker_and_not_the_frontend(backend, topology):
    spec = get_deployment_spec(backend, topology, 3)

    workers = {s.name: s.replicas for s in spec.workers}
    assert set(workers) == SHIPPED_SERVICES[backend, topology] - {"Frontend"}
    assert set(workers.values()) == {3}
    assert spec.frontend.replicas == 1


@pytest.mark.parametrize("backend, topology", SHIPPED, ids=[f"{b}-{t}" for b, t in SHIPPED])
def test_shipped_spec_serves_qwen3_0_6b(backend, topology):
    assert get_deployment_spec(backend, topology).model_name == "Qwen/Qwen3-0.6B"


def test_shipped_vllm_disagg_resolves_role_words_to_its_services():
    spec = get_deployment_spec("vllm", "disagg")

    assert spec.resolve_service("frontend").name == "Frontend"
    assert spec.resolve_service("decode worker").name == "VllmDecodeWorker"
    assert spec.resolve_service("prefill worker").name == "VllmPrefillWorker"
    assert spec.resolve_service("decode").name == "VllmDecodeWorker"
    assert spec.resolve_service("prefill").name == "VllmPrefillWorker"


def test_role_words_ignore_case_extra_spaces_quotes_and_a_trailing_service():
    spec = get_deployment_spec("trtllm", "disagg")

    assert spec.resolve_service("Decode   Worker").name == "TRTLLMDecodeWorker"
    assert spec.resolve_service('"prefill worker"').name == "TRTLLMPrefillWorker"
    assert spec.resolve_service("frontend service").name == "Frontend"
    assert spec.resolve_service("trtllmdecodeworker").name == "TRTLLMDecodeWorker"


def test_unknown_backend_names_the_allowed_backends():
    with pytest.raises(SpecError, match="unknown backend 'vlm'; allowed: vllm, trtllm, sglang, mocker"):
        get_deployment_spec("vlm", "agg")


def test_unknown_topology_names_the_allowed_topologies():
    with pytest.raises(SpecError, match="unknown topology 'aggregated'; allowed: agg, disagg"):
        get_deployment_spec("vllm", "aggregated")


def test_frontend_without_a_declared_command_runs_dynamo_frontend():
    frontend = get_deployment_spec("vllm", "agg").frontend

    assert frontend.command == ["python3", "-m", "dynamo.frontend"]
    assert frontend.engine == "frontend"


def test_describe_lists_every_service_with_role_and_replicas():
    text = get_deployment_spec("mocker", "disagg", 2).describe()

    assert text == "mocker-disagg [mocker disagg]: Frontend(frontend) x1, prefill(prefill) x2, decode(decode) x2"


# -- Dynamo's own examples, in Dynamo's naming (outside the repository) ------------------------

# example -> (the service "decode worker" names, the service "prefill worker" names or None for agg)
UPSTREAM = {
    "vllm-agg": ("VllmDecodeWorker", None),  # an aggregated worker that upstream calls "Decode"
    "vllm-disagg": ("VllmDecodeWorker", "VllmPrefillWorker"),
    "trtllm-agg": ("TRTLLMWorker", None),
    "trtllm-disagg": ("TRTLLMDecodeWorker", "TRTLLMPrefillWorker"),
    "trtllm-disagg.v1beta1": ("decode", "prefill"),
    "sglang-agg": ("decode", None),  # an aggregated worker named "decode", with no sub-type
    "sglang-disagg": ("decode", "prefill"),
    "mocker-agg": ("decode", None),  # subComponentType decode, yet aggregated
    "mocker-disagg": ("decode", "prefill"),
}
EXAMPLES = [f"{backend}-{topology}{schema}" for backend in BACKENDS for topology in TOPOLOGIES
            for schema in ("", ".v1beta1")]


def _expected(example: str) -> tuple[str, str | None]:
    return UPSTREAM.get(example) or UPSTREAM[example.removesuffix(".v1beta1")]


@pytest.fixture
def load_example(reference_dir):
    return lambda example: DeploymentSpec.from_yaml(reference_dir / f"{example}.yaml")


@pytest.mark.parametrize("example", EXAMPLES)
def test_upstream_example_loads_in_its_own_schema(example, load_example):
    spec = load_example(example)

    assert spec.schema == ("v1beta1" if example.endswith(".v1beta1") else "v1alpha1")
    backend, topology = example.removesuffix(".v1beta1").split("-")
    assert (spec.backend, spec.topology) == (backend, topology)


@pytest.mark.parametrize("example", EXAMPLES)
def test_upstream_example_resolves_every_role_word_its_topology_has(example, load_example):
    spec = load_example(example)
    decode, prefill = _expected(example)

    assert spec.resolve_service("frontend").name == "Frontend"
    assert spec.resolve_service("decode worker").name == decode
    assert spec.resolve_service("decode").name == decode
    if prefill is None:
        assert spec.resolve_service("worker").name == decode
    else:
        assert spec.resolve_service("prefill worker").name == prefill
        assert spec.resolve_service("prefill").name == prefill


@pytest.mark.parametrize("schema", ["", ".v1beta1"])
def test_vllm_agg_upstream_example_resolves_worker_role_without_renaming(schema, load_example):
    spec = load_example(f"vllm-agg{schema}")
    worker = spec.resolve_service("worker")

    assert worker.name == "VllmDecodeWorker"
    assert worker.role == "worker"  # no sub-type: aggregated, whatever its name says
    assert spec.resolve_service("decode worker").name == "VllmDecodeWorker"


@pytest.mark.parametrize("schema", ["", ".v1beta1"])
def test_sglang_upstream_examples_name_their_workers_decode_and_prefill(schema, load_example):
    disagg = load_example(f"sglang-disagg{schema}")

    assert {s.name: s.role for s in disagg.workers} == {"decode": "decode", "prefill": "prefill"}
    assert load_example(f"sglang-agg{schema}").resolve_service("decode").role == "worker"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if "disagg" in e])
def test_worker_word_on_a_disagg_example_matches_several_services_and_lists_them(example, load_example):
    spec = load_example(example)
    decode, prefill = _expected(example)

    with pytest.raises(SpecError) as error:
        spec.resolve_service("worker")
    message = str(error.value)
    assert "matches several services" in message
    assert "Frontend (frontend), " in message and f"{decode} (decode)" in message and f"{prefill} (prefill)" in message


@pytest.mark.parametrize("example", [e for e in EXAMPLES if "-agg" in e])
def test_prefill_word_on_an_agg_example_matches_no_service_and_lists_them(example, load_example):
    spec = load_example(example)

    with pytest.raises(SpecError) as error:
        spec.resolve_service("prefill worker")
    message = str(error.value)
    assert "'prefill worker' matches no service" in message
    assert "Frontend (frontend)" in message and _expected(example)[0] in message


def test_unknown_service_word_lists_the_services_and_the_role_words(load_example):
    spec = load_example("trtllm-disagg")

    with pytest.raises(SpecError) as error:
        spec.resolve_service("router")
    message = str(error.value)
    assert "has no service 'router'" in message
    assert "Frontend (frontend), TRTLLMPrefillWorker (prefill), TRTLLMDecodeWorker (decode)" in message
    assert "role words: frontend, worker, decode worker, prefill worker, decode, prefill" in message


@pytest.mark.parametrize("example", EXAMPLES)
def test_upstream_example_survives_save_and_reload_unchanged(example, load_example, tmp_path):
    spec = load_example(example)

    again = DeploymentSpec.from_yaml(spec.save(tmp_path / "out" / "spec.yaml"))

    assert again.document == spec.document
    assert [(s.name, s.role, s.replicas, s.args) for s in again.services.values()] == \
        [(s.name, s.role, s.replicas, s.args) for s in spec.services.values()]


# -- errors that name the problem ---------------------------------------------------------------

def _minimal_v1alpha1() -> dict:
    return {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "tiny"},
        "spec": {"services": {
            "Frontend": {"componentType": "frontend", "replicas": 1,
                         "extraPodSpec": {"mainContainer": {"image": "img:1"}}},
            "Worker": {"componentType": "worker", "replicas": 1,
                       "extraPodSpec": {"mainContainer": {"image": "img:1", "command": ["python3", "-m", "dynamo.vllm"],
                                                          "args": ["--model", "Qwen/Qwen3-0.6B"]}}},
        }},
    }


def _minimal_v1beta1() -> dict:
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "tiny"},
        "spec": {"components": [
            {"name": "Frontend", "type": "frontend", "replicas": 1,
             "podTemplate": {"spec": {"containers": [{"name": "main", "image": "img:1"}]}}},
            {"name": "Worker", "type": "worker", "replicas": 1,
             "podTemplate": {"spec": {"containers": [
                 {"name": "main", "image": "img:1", "command": ["python3", "-m", "dynamo.vllm"],
                  "args": ["--model", "Qwen/Qwen3-0.6B"]}]}}},
        ]},
    }


MINIMAL = {"v1alpha1": _minimal_v1alpha1, "v1beta1": _minimal_v1beta1}


def _write(tmp_path, document) -> str:
    path = tmp_path / "deployment.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return str(path)


def test_malformed_yaml_is_an_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "kind: DynamoGraphDeployment\nspec: [unclosed\n")

    with pytest.raises(SpecError, match=f"deployment file '{path}' is not valid YAML"):
        DeploymentSpec.from_yaml(path)


def test_missing_file_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(SpecError, match="deployment file '.*nowhere.yaml' does not exist"):
        DeploymentSpec.from_yaml(tmp_path / "nowhere.yaml")


def test_a_yaml_list_is_not_a_deployment(tmp_path):
    with pytest.raises(SpecError, match="must be a YAML mapping .* got list"):
        DeploymentSpec.from_yaml(_write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("schema", MINIMAL)
def test_wrong_kind_is_an_error_naming_the_kind_found_and_expected(schema, tmp_path):
    document = MINIMAL[schema]()
    document["kind"] = "DynamoComponentDeployment"

    with pytest.raises(SpecError, match="has kind 'DynamoComponentDeployment'; expected 'DynamoGraphDeployment'"):
        DeploymentSpec.from_yaml(_write(tmp_path, document))


def test_unknown_api_version_is_an_error_naming_the_allowed_ones():
    document = _minimal_v1alpha1()
    document["apiVersion"] = "nvidia.com/v2"

    with pytest.raises(SpecError, match="apiVersion 'nvidia.com/v2'; allowed: nvidia.com/v1alpha1, nvidia.com/v1beta1"):
        DeploymentSpec(document)


@pytest.mark.parametrize("schema", MINIMAL)
def test_negative_replicas_are_an_error_naming_the_service(schema):
    document = MINIMAL[schema]()
    spec = DeploymentSpec(document)
    spec.get_service("Worker").raw["replicas"] = -1

    with pytest.raises(SpecError, match="replicas of service 'Worker' must be a whole number from 0 to 16, got -1"):
        DeploymentSpec(spec.document)


@pytest.mark.parametrize("replicas", ["2", 1.5, True, 17, 100000])
def test_replicas_that_are_not_whole_numbers_up_to_16_are_an_error(replicas):
    document = _minimal_v1alpha1()
    document["spec"]["services"]["Worker"]["replicas"] = replicas

    with pytest.raises(SpecError, match=f"replicas of service 'Worker' must be a whole number from 0 to 16, got {replicas!r}"):
        DeploymentSpec(document)


@pytest.mark.parametrize("schema", MINIMAL)
def test_a_deployment_without_a_frontend_is_an_error(schema):
    spec = DeploymentSpec(MINIMAL[schema]())
    frontend = spec.get_service("Frontend").raw
    frontend["componentType" if schema == "v1alpha1" else "type"] = "worker"

    with pytest.raises(SpecError, match=r"must have exactly one frontend service .*found \[\]"):
        DeploymentSpec(spec.document)


def test_a_deployment_with_two_frontends_names_both():
    document = _minimal_v1alpha1()
    document["spec"]["services"]["Frontend2"] = copy.deepcopy(document["spec"]["services"]["Frontend"])

    with pytest.raises(SpecError, match=r"exactly one frontend .*found \['Frontend', 'Frontend2'\]"):
        DeploymentSpec(document)


@pytest.mark.parametrize("schema, key", [("v1alpha1", "spec.services"), ("v1beta1", "spec.components")])
def test_a_deployment_without_services_names_where_they_belong(schema, key):
    document = MINIMAL[schema]()
    document["spec"] = {}

    with pytest.raises(SpecError, match=f"declares no services under {key}"):
        DeploymentSpec(document)


@pytest.mark.parametrize("name", [None, "Has_Capitals", "-leading-dash"])
def test_metadata_name_must_be_a_dns_label(name):
    document = _minimal_v1alpha1()
    document["metadata"]["name"] = name

    with pytest.raises(SpecError, match="needs metadata.name, a DNS label"):
        DeploymentSpec(document)


def test_a_service_that_is_not_a_mapping_is_a_spec_error():
    document = _minimal_v1alpha1()
    document["spec"]["services"]["Worker"] = None

    with pytest.raises(SpecError, match="Worker"):
        DeploymentSpec(document)


def test_setting_negative_replicas_names_the_service():
    spec = get_deployment_spec("vllm", "disagg")

    with pytest.raises(SpecError, match="replicas of service 'VllmPrefillWorker' must be a whole number from 0 to 16, got -2"):
        spec.set_service_replicas("prefill worker", -2)


def test_get_service_lists_the_services_on_a_miss():
    with pytest.raises(SpecError, match="has no service 'Decode'; services: Frontend, decode"):
        get_deployment_spec("mocker", "agg").get_service("Decode")


# -- edits, in both schemas ---------------------------------------------------------------------

@pytest.fixture(params=list(MINIMAL))
def tiny(request) -> DeploymentSpec:
    """A two-service deployment (Frontend, Worker) in the requested schema."""
    return DeploymentSpec(MINIMAL[request.param]())


def test_set_arg_replaces_an_existing_value(tiny):
    tiny.get_service("Worker").set_arg("--model", "other/model")

    assert tiny.get_service("Worker").args == ["--model", "other/model"]
    assert tiny.model_name == "other/model"


def test_set_arg_appends_a_new_flag_and_a_bare_flag(tiny):
    worker = tiny.get_service("Worker")
    worker.set_arg("--max-num-seqs", "4")
    worker.set_arg("--enforce-eager")

    assert worker.args == ["--model", "Qwen/Qwen3-0.6B", "--max-num-seqs", "4", "--enforce-eager"]
    assert worker.arg_value("--max-num-seqs") == "4"


def test_set_arg_on_a_frontend_without_args_creates_them(tiny):
    tiny.frontend.set_arg("--migration-limit", "3")

    assert tiny.frontend.args == ["--migration-limit", "3"]
    assert tiny.frontend.image == "img:1"


def test_set_arg_on_a_v1beta1_component_without_a_pod_template_creates_the_main_container():
    document = _minimal_v1beta1()
    del document["spec"]["components"][0]["podTemplate"]
    spec = DeploymentSpec(document)

    spec.frontend.set_arg("--migration-limit", "0")

    assert spec.document["spec"]["components"][0]["podTemplate"] == {
        "spec": {"containers": [{"name": "main", "args": ["--migration-limit", "0"]}]}}


def test_set_arg_replaces_a_value_given_with_an_equals_sign(tiny):
    worker = tiny.get_service("Worker")
    worker.args = ["--migration-limit=0"]

    worker.set_arg("--migration-limit", "3")

    assert worker.arg_value("--migration-limit") == "3"
    assert worker.args.count("--migration-limit=0") == 0


def test_add_args_appends_the_words_verbatim(tiny):
    worker = tiny.get_service("Worker")
    worker.add_args(["--kv-transfer-config", '{"kv_role": "kv_both"}', 7])

    assert worker.args[-3:] == ["--kv-transfer-config", '{"kv_role": "kv_both"}', "7"]


def test_service_env_var_is_added_then_replaced(tiny):
    worker = tiny.get_service("Worker")
    worker.set_env_var("DYN_LOG", "debug")
    worker.set_env_var("DYN_LOG", "info")

    assert worker.envs == {"DYN_LOG": "info"}
    assert tiny.get_service("Frontend").envs == {}


def test_service_env_var_lives_where_each_schema_keeps_it():
    alpha = DeploymentSpec(_minimal_v1alpha1())
    beta = DeploymentSpec(_minimal_v1beta1())
    alpha.get_service("Worker").set_env_var("A", "1")
    beta.get_service("Worker").set_env_var("A", "1")

    assert alpha.document["spec"]["services"]["Worker"]["envs"] == [{"name": "A", "value": "1"}]
    container = beta.document["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}]


def test_setting_an_env_var_declared_from_a_secret_replaces_the_reference(tiny):
    worker = tiny.get_service("Worker")
    worker.set_env_var("HF_TOKEN", "x")
    worker._env_list()[0]["valueFrom"] = {"secretKeyRef": {"name": "hf", "key": "token"}}

    worker.set_env_var("HF_TOKEN", "y")

    assert worker._env_list() == [{"name": "HF_TOKEN", "value": "y"}]


@pytest.mark.parametrize("name", ["1ABC", "WITH-DASH", ""])
def test_invalid_env_var_names_are_rejected(tiny, name):
    with pytest.raises(SpecError, match="is not a valid environment variable name"):
        tiny.get_service("Worker").set_env_var(name, "1")


def test_deployment_env_var_goes_to_the_top_level_list_and_replaces(tiny):
    tiny.set_env_var("DYN_SYSTEM_ENABLED", "true")
    tiny.set_env_var("DYN_SYSTEM_ENABLED", "false")

    key = "envs" if tiny.schema == "v1alpha1" else "env"
    assert tiny.document["spec"][key] == [{"name": "DYN_SYSTEM_ENABLED", "value": "false"}]
    assert tiny.global_envs == {"DYN_SYSTEM_ENABLED": "false"}


def test_set_image_changes_every_service(tiny):
    tiny.set_image("registry/dynamo:test")

    assert {s.image for s in tiny.services.values()} == {"registry/dynamo:test"}


def test_edits_survive_save_and_reload(tiny, tmp_path):
    worker = tiny.get_service("Worker")
    worker.set_arg("--max-num-seqs", "4")
    worker.set_env_var("DYN_LOG", "debug")
    worker.replicas = 2
    tiny.set_env_var("G", "1")

    again = DeploymentSpec.from_yaml(tiny.save(tmp_path / "spec.yaml"))

    reloaded = again.get_service("Worker")
    assert (reloaded.args, reloaded.envs, reloaded.replicas) == (worker.args, {"DYN_LOG": "debug"}, 2)
    assert again.global_envs == {"G": "1"}
    assert again.document == tiny.document


def test_copy_is_independent_of_the_original(tiny):
    clone = tiny.copy()
    clone.get_service("Worker").set_arg("--model", "changed")

    assert tiny.get_service("Worker").arg_value("--model") == "Qwen/Qwen3-0.6B"


def test_a_spec_does_not_share_the_document_it_was_built_from():
    document = _minimal_v1alpha1()
    spec = DeploymentSpec(document)
    spec.set_worker_replicas(5)

    assert document["spec"]["services"]["Worker"]["replicas"] == 1


def test_disaggregation_mode_in_args_gives_an_unlabelled_worker_its_role():
    document = _minimal_v1beta1()
    document["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]["args"] += [
        "--disaggregation-mode", "prefill"]

    spec = DeploymentSpec(document)

    assert spec.get_service("Worker").role == "prefill"
    assert spec.topology == "disagg"


# -- edits write only what the custom resource declares ----------------------------------------

@pytest.fixture(scope="module")
def crd_schemas() -> dict:
    """The DynamoGraphDeployment CRD's openAPI schema per version (parsed with libyaml: 1.5 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(DATA / "crd" / "nvidia.com_dynamographdeployments.yaml") as stream:
        crd = yaml.load(stream, Loader=loader)
    return {v["name"]: v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]}


_TYPES = {"string": str, "array": list, "object": dict, "boolean": bool}


def _undeclared(value, schema: dict, path: str = "") -> list[str]:
    """Where ``value`` does not fit ``schema`` (unknown keys, wrong types, missing required keys)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-int-or-string"):
        return []
    kind = schema.get("type")
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return [f"{path}: expected an integer, got {value!r}"]
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        return [f"{path}: expected {kind}, got {value!r}"]
    problems = []
    if isinstance(value, dict):
        properties, extra = schema.get("properties"), schema.get("additionalProperties")
        problems += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if properties and key in properties:
                problems += _undeclared(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                problems += _undeclared(item, extra, f"{path}.{key}")
            elif properties is not None and extra is not True:
                problems.append(f"{path}.{key}: not declared")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _undeclared(item, schema["items"], f"{path}[{index}]")
    return problems


@pytest.mark.parametrize("example", ["vllm-disagg", "vllm-disagg.v1beta1", "mocker-agg", "mocker-agg.v1beta1"])
def test_edits_of_an_upstream_example_fit_the_crd_schema(example, load_example, crd_schemas):
    spec = load_example(example)
    assert _undeclared(spec.document, crd_schemas[spec.schema]) == []

    spec.set_worker_replicas(2)
    spec.set_image("registry/dynamo:test")
    spec.set_env_var("DYN_LOG", "debug")
    spec.frontend.set_arg("--migration-limit", "3")
    spec.frontend.set_env_var("DYN_HTTP_PORT", "8000")
    spec.resolve_service("decode").add_args(["--max-num-seqs", "4"])

    assert _undeclared(spec.document, crd_schemas[spec.schema]) == []


@pytest.mark.parametrize("backend, topology", SHIPPED, ids=[f"{b}-{t}" for b, t in SHIPPED])
def test_shipped_spec_fits_the_crd_schema(backend, topology, crd_schemas):
    spec = get_deployment_spec(backend, topology, 2)

    assert _undeclared(spec.document, crd_schemas[spec.schema]) == []
