"""The DGD conversion webhook's pure part (`ftlib.controlplane.conversion`): every DGD the
project generates (every shipped spec, every upstream example, both versions) survives a round
trip through the other version field for field, the converted object fits the other version's
CRD schema, and the derived spec means the same deployment (the operator stand-in makes the
same pods from it, but for the component type: v1alpha1 ``worker`` with sub-component ``decode``,
v1beta1 ``decode``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ftlib.controlplane import conversion, operator
from ftlib.platform.kubernetes import dgd
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec

DATA = Path(__file__).parent / "data"
CRD = yaml.load((DATA / "crd" / "nvidia.com_dynamographdeployments.yaml").read_text(),
               Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
VALIDATORS = {v["name"]: jsonschema.Draft7Validator(v["schema"]["openAPIV3Schema"]) for v in CRD["spec"]["versions"]}
EXAMPLES = sorted((DATA / "dynamo_examples").glob("*.yaml"))
IMAGE = "registry.example/dynamo:1.6.1"
OTHER = {"v1alpha1": "v1beta1", "v1beta1": "v1alpha1"}


def bodies() -> list[tuple[str, dict]]:
    found = [(f"{b}-{t}", dgd.dgd_body(get_deployment_spec(b, t), "run-1", "ft", IMAGE))
             for b in BACKENDS for t in TOPOLOGIES]
    found += [(p.name, dgd.dgd_body(DeploymentSpec.from_yaml(p), "run-1", "ft", IMAGE)) for p in EXAMPLES]
    return found


BODIES = bodies()


def with_status(body: dict) -> dict:
    stored = copy.deepcopy(body)
    version = conversion.version_of(stored)
    names = list(stored["spec"]["services"]) if version == "v1alpha1" else [c["name"] for c in stored["spec"]["components"]]
    entries = {n: {"componentKind": "Deployment", "componentNames": [f"x-{n.lower()}"], "replicas": 1,
                   "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1} for n in names}
    if version == "v1alpha1":
        for n, e in entries.items():
            e["componentName"] = f"x-{n.lower()}"
    stored["status"] = {"state": "successful", "observedGeneration": 1,
                        ("services" if version == "v1alpha1" else "components"): entries}
    return stored


def validate(obj: dict) -> None:
    error = jsonschema.exceptions.best_match(VALIDATORS[conversion.version_of(obj)].iter_errors(obj))
    if error is not None:
        raise error


SCHEMAS = conversion.spec_schemas(CRD)


def defaulted(obj: dict) -> dict:
    """``obj`` with its version's schema defaults, as the API server adds them on every decode."""
    out = copy.deepcopy(obj)
    conversion.apply_defaults(out["spec"], SCHEMAS[conversion.version_of(out)])
    return out


@pytest.mark.parametrize("name, body", BODIES, ids=[n for n, _ in BODIES])
def test_through_the_api_servers_defaulting_a_dgd_is_stored_and_read_back_unchanged(name, body):
    sent = defaulted(with_status(body))  # the request, decoded
    stored = conversion.convert(sent, "v1alpha1", SCHEMAS)
    read = conversion.convert(defaulted(stored), conversion.version_of(sent), SCHEMAS)

    assert defaulted(stored) == stored  # what the webhook derives already has the defaults
    assert read == sent
    other = conversion.convert(defaulted(stored), "v1beta1", SCHEMAS)  # a v1alpha1 DGD read as v1beta1
    assert defaulted(other) == other
    assert conversion.convert(defaulted(other), "v1alpha1", SCHEMAS) == stored


def test_defaults_apply_inside_objects_that_exist_following_items_and_maps():
    schema = {"properties": {"a": {"default": 1}, "m": {"additionalProperties": {"properties": {"b": {"default": "x"}}}},
                             "l": {"items": {"properties": {"c": {"default": False}}}},
                             "o": {"properties": {"d": {"default": 2}}}}}

    assert conversion.apply_defaults({"m": {"k": {}}, "l": [{}, {"c": True}]}, schema) == {
        "a": 1, "m": {"k": {"b": "x"}}, "l": [{"c": False}, {"c": True}]}


@pytest.mark.parametrize("name, body", BODIES, ids=[n for n, _ in BODIES])
def test_every_generated_dgd_survives_a_round_trip_through_the_other_version_field_for_field(name, body):
    original = with_status(body)
    there = conversion.convert(original, OTHER[conversion.version_of(original)])
    back = conversion.convert(there, conversion.version_of(original))

    assert back == original
    assert conversion.ORIGIN_ANNOTATION in there["metadata"]["annotations"]
    assert conversion.native_version(there) == conversion.version_of(original)


@pytest.mark.parametrize("name, body", BODIES, ids=[n for n, _ in BODIES])
def test_the_converted_dgd_fits_the_other_versions_schema(name, body):
    validate(conversion.convert(with_status(body), OTHER[conversion.version_of(body)]))


@pytest.mark.parametrize("name, body", BODIES, ids=[n for n, _ in BODIES])
def test_the_converted_dgd_makes_the_same_pods(name, body):
    stored = copy.deepcopy(body)
    stored["metadata"].update(uid="u-1", generation=1)
    converted = conversion.convert(stored, OTHER[conversion.version_of(stored)])
    converted["metadata"].pop("annotations", None)  # read the derived spec, not the kept one

    def pods(obj: dict) -> dict:
        graph = operator.read_graph(obj)
        made = {}
        for component in graph.components:
            template = operator.deployment_body(graph, component)["spec"]["template"]
            main = next(c for c in template["spec"]["containers"] if c["name"] == "main")
            # v1alpha1 says worker + sub-component decode, v1beta1 decode: the operator keeps both contracts
            main["env"] = sorted((e for e in main.get("env") or [] if e["name"] != "DYN_COMPONENT"), key=lambda e: e["name"])
            for label in (operator.COMPONENT_TYPE_LABEL, operator.SUB_COMPONENT_TYPE_LABEL):
                template["metadata"]["labels"].pop(label, None)
            main["volumeMounts"] = sorted(main.get("volumeMounts") or [], key=lambda m: m["name"])
            template["spec"]["volumes"] = sorted(template["spec"].get("volumes") or [], key=lambda v: v["name"])
            made[component.name] = template
        return made

    assert pods(converted) == pods(stored)


def test_a_prefill_worker_becomes_a_prefill_component_and_back():
    spec = {"services": {"prefill": {"componentType": "worker", "subComponentType": "prefill", "replicas": 2,
                                     "extraPodSpec": {"mainContainer": {"image": "i"}}}}}

    beta = conversion.alpha_to_beta(spec)
    assert beta["components"] == [{"name": "prefill", "type": "prefill", "replicas": 2,
                                   "podTemplate": {"spec": {"containers": [{"image": "i", "name": "main"}]}}}]
    assert conversion.beta_to_alpha(beta)["services"]["prefill"]["componentType"] == "worker"


def test_a_spec_changed_through_the_other_version_is_derived_again_not_restored():
    body = dgd.dgd_body(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "mocker-agg.v1beta1.yaml"), "r", "ft", IMAGE)
    stored = conversion.convert(body, "v1alpha1")
    stored["spec"]["services"]["decode"]["replicas"] = 3  # a v1alpha1 merge patch of a v1beta1 DGD

    assert conversion.native_version(stored) == "v1alpha1"
    beta = conversion.convert(stored, "v1beta1")
    assert next(c for c in beta["spec"]["components"] if c["name"] == "decode")["replicas"] == 3


def test_the_status_moves_between_services_and_components():
    alpha = {"state": "pending", "services": {"decode": {"componentKind": "Deployment", "componentName": "d",
                                                          "replicas": 1, "updatedReplicas": 0}},
             "rollingUpdate": {"phase": "InProgress", "updatedServices": ["decode"]}}

    beta = conversion.convert_status(alpha, "v1beta1")
    assert beta == {"state": "pending", "components": {"decode": {"componentKind": "Deployment",
                                                                  "componentNames": ["d"], "replicas": 1,
                                                                  "updatedReplicas": 0}},
                    "rollingUpdate": {"phase": "InProgress", "updatedComponents": ["decode"]}}
    assert conversion.convert_status(beta, "v1alpha1")["services"]["decode"]["componentName"] == "d"


def test_a_conversion_review_is_answered_with_every_object_converted():
    body = dgd.dgd_body(get_deployment_spec("mocker", "agg"), "r", "ft", IMAGE)
    review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
              "request": {"uid": "abc", "desiredAPIVersion": "nvidia.com/v1beta1", "objects": [body, body]}}

    answer = conversion.review_response(json.loads(json.dumps(review)))
    assert answer["response"]["uid"] == "abc" and answer["response"]["result"] == {"status": "Success"}
    assert [o["apiVersion"] for o in answer["response"]["convertedObjects"]] == ["nvidia.com/v1beta1"] * 2


def test_a_conversion_that_cannot_be_done_answers_a_failure():
    review = {"request": {"uid": "u", "desiredAPIVersion": "nvidia.com/v1beta1",
                          "objects": [{"apiVersion": "nvidia.com/v1alpha1", "spec": {"services": {"a": "not a map"}}}]}}

    answer = conversion.review_response(review)["response"]
    assert answer["result"]["status"] == "Failure" and "dynamo-ft conversion" in answer["result"]["message"]
