"""The kubernetes platform: DynamoGraphDeployments applied through the Kubernetes API.

`KubernetesPlatform` checks the cluster once (API reachable, CRD served, namespace usable) and
applies each scenario's spec as a DGD of its own run (`KubernetesDeployment`). `plan_manifests`
returns what a run would create, for ``-D dry_run=true``.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from ftlib.platform.base import Platform
from ftlib.platform.kubernetes.config import ClusterOptions, check_namespace_allowed
from ftlib.platform.kubernetes.dgd import dgd_body
from ftlib.spec import DeploymentSpec

log = logging.getLogger("ftlib.platform.kubernetes")
PLAN_RUN_ID = "dry-run"
PREFLIGHT_ATTEMPTS = 3  # an API that does not answer stops the run within ~20 s, before any scenario
PREFLIGHT_TIMEOUT = 5.0


def new_run_id() -> str:
    """A run id: a label value that sorts by time and is unique enough (``20261127-054000-a1b2c3``)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def plan_manifests(spec: DeploymentSpec, options: Any, loads: list[tuple[str, Any]] = ()) -> list[dict]:
    """The objects a run of ``spec`` creates: the DGD, the log PVC, and a load Job for each
    ``(name, LoadConfig)`` of ``loads``. The run id is shown as ``dry-run``."""
    from ftlib.platform.kubernetes.load_job import (LoadJobImage, frontend_service_url, job_name, load_argv,
                                                    load_job_manifest)
    from ftlib.platform.kubernetes.pvc import log_pvc_name, pvc_manifest

    cluster = options if isinstance(options, ClusterOptions) else ClusterOptions.from_options(options)
    manifests = [dgd_body(spec, PLAN_RUN_ID, cluster.namespace, cluster.image, cluster.kube_log_tee),
                 pvc_manifest(log_pvc_name(PLAN_RUN_ID), cluster.namespace, PLAN_RUN_ID, cluster.storage_class,
                              cluster.pvc_size)]
    url = frontend_service_url(spec.name, spec.frontend.name, cluster.namespace)
    for name, config in loads:
        argv = load_argv(cluster.client_type, name, config, url, config.model_name or spec.model_name,
                         config.tokenizer or spec.model_name)
        manifests.append(load_job_manifest(job_name(name), cluster.namespace, PLAN_RUN_ID, LoadJobImage.choose(cluster),
                                           argv, cluster.client_type))
    return manifests


def judge_plan(spec: DeploymentSpec, options: Any, loads: list[tuple[str, Any]] = ()) -> list:
    """Every manifest of `plan_manifests`, judged by the cluster with ``dryRun=All``
    (`server_dry_run.ManifestVerdict` each); nothing is created."""
    from ftlib.platform.kubernetes.server_dry_run import judge_manifests

    return judge_manifests(KubernetesPlatform(options).api, plan_manifests(spec, options, loads))


def manifests_yaml(spec: DeploymentSpec, options: Any, loads: list[tuple[str, Any]] = ()) -> str:
    """`plan_manifests` as one YAML stream."""
    return yaml.dump_all(plan_manifests(spec, options, loads), Dumper=_ReadableDumper, sort_keys=False)


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings (the in-pod scripts) as literal blocks, as they would be written by hand."""


_ReadableDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


class KubernetesPlatform(Platform):
    """Deployments as DynamoGraphDeployments on the cluster of the kubeconfig (or in-cluster)."""

    name = "kubernetes"

    def __init__(self, options: Any = None, api=None):
        self.options = options if isinstance(options, ClusterOptions) else ClusterOptions.from_options(options or {})
        check_namespace_allowed(self.options.namespace, self.options.allow_namespace)
        self._api = api
        self._checked: set[str] = set()
        self.run_id = new_run_id()

    @property
    def api(self):
        if self._api is None:
            from ftlib.platform.kubernetes.config import load_api_client

            self._api = load_api_client(self.options)
        return self._api

    def preflight(self) -> list[str]:
        """The cluster every scenario will deploy to: a kubeconfig (or the pod's service account),
        an API that answers (tried `PREFLIGHT_ATTEMPTS` times), the CRD, the namespace and every
        permission of `ftlib.platform.kubernetes.config.check_cluster`; creates nothing."""
        from ftlib.platform.kubernetes.config import check_cluster, server_version

        server_version(self.api, attempts=PREFLIGHT_ATTEMPTS, timeout=PREFLIGHT_TIMEOUT)
        return check_cluster(self.api, self.options)

    def tokenizer_for(self, spec: DeploymentSpec) -> str:
        """The model's name: the load Job fetches its tokenizer by name (from the Hugging Face hub)."""
        return spec.model_name

    def deploy(self, spec: DeploymentSpec, output_dir: Path):
        from ftlib.platform.kubernetes.config import check_cluster
        from ftlib.platform.kubernetes.deployment import KubernetesDeployment

        version = spec.schema
        if version not in self._checked:
            for note in check_cluster(self.api, self.options, version):
                log.info("%s", note)
            self._checked.add(version)
        if not self.options.skip_service_restart:
            from ftlib.platform.kubernetes.service_restart import restart_platform_services

            restart_platform_services(self.api, self.options.namespace)
        from kubernetes import client

        from ftlib.platform.kubernetes.pvc import create_log_pvc

        deployment = KubernetesDeployment(spec, output_dir, self.api, self.options, self.run_id)
        try:
            create_log_pvc(client.CoreV1Api(self.api), client.BatchV1Api(self.api), self.options.namespace,
                           self.run_id, self.options.storage_class, self.options.pvc_size)
            deployment.apply()
        except BaseException:
            deployment.teardown()  # the scenario gets no deployment to tear down: leave nothing behind
            raise
        return deployment


__all__ = ["KubernetesPlatform", "plan_manifests", "manifests_yaml", "new_run_id"]
