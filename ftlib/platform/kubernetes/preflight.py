"""``./run preflight -D platform=kubernetes -D namespace=ft …``: what the suite needs from a cluster,
and whether it has it, as a table; the exit status is non-zero when something is missing.

Checked: the API answers, the DynamoGraphDeployment CRD and its served versions, the namespace,
each RBAC permission in `SUITE_RBAC` (through SelfSubjectAccessReview, so nothing is created)
and the storage class of the log PVC; with ``-D probe_pvc=true`` the log PVC is created, proved
bound by a pod mounting it, and deleted (the only check that creates anything). `SUITE_RBAC` (in `ftlib.platform.kubernetes.config`, which
checks the same permissions before a run) is also the source of ``deploy/rbac.yaml``
(`rbac_manifests`); a test keeps the two equal.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ftlib.errors import FtError
from ftlib.platform.kubernetes.config import (DGD_CRD, SUITE_RBAC, ClusterOptions, RbacRule, access_reviews,
                                              check_namespace_allowed, dgd_served_versions, load_api_client,
                                              namespace_exists, needed_rules, parse_bool, server_version)
from ftlib.platform.kubernetes.jobs import teardown_run_objects
from ftlib.platform.kubernetes.pvc import ACCESS_MODE, BIND_TIMEOUT, create_log_pvc
from ftlib.platform.kubernetes.retry import call_api, short_reason

__all__ = ["SUITE_RBAC", "RbacRule", "Row", "main", "preflight", "rbac_manifests", "rbac_yaml"]

ROLE_NAME = "dynamo-ft"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def rbac_manifests(namespace: str = "<namespace>", subject: str = "<user-or-serviceaccount>") -> list[dict]:
    """The Role the suite needs in its namespace, and a RoleBinding template for it."""
    verbs: dict[tuple[str, str], list[str]] = {}
    for rule in SUITE_RBAC:  # one rule per resource, in the table's order
        verbs.setdefault((rule.group, rule.resource), []).extend(rule.verbs)
    rules = [{"apiGroups": [group], "resources": [resource], "verbs": listed} for (group, resource), listed in verbs.items()]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": ROLE_NAME, "namespace": namespace}, "rules": rules}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": ROLE_NAME, "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": subject}]}
    return [role, binding]


def rbac_yaml() -> str:
    head = ("# The Role dynamo-ft needs in its namespace (generated from SUITE_RBAC in\n"
            "# ftlib/platform/kubernetes/preflight.py; a test keeps them equal).\n"
            "# Replace <namespace> and the subject, then apply:\n"
            "#   sed -e 's/<namespace>/ft/' -e 's/<user-or-serviceaccount>/alice/' deploy/rbac.yaml | kubectl apply -f -\n"
            "# For a service account use: kind: ServiceAccount, name: <sa>, namespace: <namespace> (no apiGroup).\n")
    return head + yaml.safe_dump_all(rbac_manifests(), sort_keys=False)


# Provisioners known to give ReadWriteMany volumes, and ones known to give ReadWriteOnce only.
RWX_PROVISIONERS = ("efs.csi.aws.com", "file.csi.azure.com", "kubernetes.io/azure-file", "filestore.csi.storage.gke.io",
                    "nfs.csi.k8s.io", "cephfs.csi.ceph.com", "nfs-subdir-external-provisioner", "cluster.local/nfs")
RWO_PROVISIONERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs", "pd.csi.storage.gke.io", "kubernetes.io/gce-pd",
                    "disk.csi.azure.com", "kubernetes.io/azure-disk", "rancher.io/local-path", "kubernetes.io/no-provisioner")


@dataclass(frozen=True)
class Row:
    """One line of the preflight table. ``ok`` None means "could not tell" (not a failure)."""

    check: str
    ok: bool | None
    detail: str

    @property
    def mark(self) -> str:
        return {True: "ok", False: "MISSING", None: "unknown"}[self.ok]


def access_rows(api: client.ApiClient, options: ClusterOptions) -> list[Row]:
    """One row per (resource, verb) of `SUITE_RBAC`, asked of the API server (SelfSubjectAccessReview).
    A denied verb that this run's options do not need is shown, but not as missing."""
    rows = []
    needed = needed_rules(options)
    for access in access_reviews(api, options.namespace):
        rule = access.rule
        when = {"restart": " (only with skip_service_restart=false)", "optional": " (optional)"}.get(rule.when, "")
        detail = {True: rule.why, False: f"denied; needed to {rule.why}{when}: apply deploy/rbac.yaml",
                  None: f"cannot ask ({access.error})"}[access.allowed]
        allowed = None if access.allowed is False and rule not in needed else access.allowed
        rows.append(Row(f"rbac: {access.name}", allowed, detail))
    return rows


def storage_row(api: client.ApiClient, storage_class: str | None) -> Row:
    """The log PVC's storage class: does it exist, and do its provisioner's volumes allow ReadWriteMany."""
    storage = client.StorageV1Api(api)
    try:
        if storage_class:
            sc = call_api(storage.read_storage_class, storage_class)
        else:
            classes = call_api(storage.list_storage_class).items
            defaults = [c for c in classes
                        if ((c.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION) == "true")]
            if not defaults:
                return Row("storage class", False, "no -D storage_class and the cluster has no default class; "
                                                   f"name one that provisions {ACCESS_MODE} (kubectl get storageclass)")
            sc = defaults[0]
    except ApiException as error:
        if error.status == 404:
            return Row("storage class", False, f"{storage_class!r} does not exist (kubectl get storageclass)")
        return Row("storage class", None, f"cannot read storage classes ({short_reason(error)}); "
                                          f"the bind probe proves {ACCESS_MODE} at run time")
    name, provisioner = sc.metadata.name, sc.provisioner
    if provisioner in RWX_PROVISIONERS:
        return Row("storage class", True, f"{name} ({provisioner}) provisions {ACCESS_MODE}")
    if provisioner in RWO_PROVISIONERS:
        return Row("storage class", False, f"{name} ({provisioner}) provisions ReadWriteOnce only; the log PVC needs "
                                           f"{ACCESS_MODE}: -D storage_class=<an NFS/EFS/CephFS/Azure Files class>")
    return Row("storage class", None, f"{name} ({provisioner}): {ACCESS_MODE} support unknown; "
                                      "the bind probe proves it at run time")


def bind_probe_row(api: client.ApiClient, options: ClusterOptions, timeout: float = BIND_TIMEOUT) -> Row:
    """Create a log PVC and its probe Job for real (``-D probe_pvc=true``), then delete them: the
    proof that the storage class binds ReadWriteMany, which no field of a StorageClass says."""
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    run_id = f"preflight-{secrets.token_hex(3)}"
    try:
        name = create_log_pvc(core, batch, options.namespace, run_id, options.storage_class, options.pvc_size, timeout)
        row = Row("PVC binds", True, f"{name} bound {ACCESS_MODE} and a pod mounted it")
    except FtError as error:
        row = Row("PVC binds", False, str(error))
    finally:
        teardown_run_objects(core, batch, options.namespace, run_id)
    return row


def preflight(api: client.ApiClient, options: ClusterOptions, probe_pvc: bool = False) -> list[Row]:
    """Every check, in order; stops after the API check when the API does not answer. With
    ``probe_pvc`` the log PVC is also created, proved bound and deleted."""
    rows = []
    try:
        check_namespace_allowed(options.namespace, options.allow_namespace)
        rows.append(Row("namespace allowed", True, options.namespace))
    except FtError as error:
        rows.append(Row("namespace allowed", False, str(error)))
    try:
        rows.append(Row("API reachable", True, f"Kubernetes {server_version(api)} at {api.configuration.host}"))
    except FtError as error:
        return rows + [Row("API reachable", False, str(error))]
    try:
        served = dgd_served_versions(api)
        rows.append(Row(f"CRD {DGD_CRD}", bool(served), f"served versions: {', '.join(served)}" if served else
                        "not installed: install the Dynamo platform (operator and CRDs)"))
    except FtError as error:
        rows.append(Row(f"CRD {DGD_CRD}", False, str(error)))
    try:
        exists = namespace_exists(api, options.namespace)
        rows.append(Row(f"namespace {options.namespace}", exists,
                        {True: "exists", False: f"missing: kubectl create namespace {options.namespace}",
                         None: "cannot read namespaces (a namespaced Role); assuming it exists"}[exists]))
    except FtError as error:
        rows.append(Row(f"namespace {options.namespace}", None, str(error)))
    rows += access_rows(api, options)
    rows.append(storage_row(api, options.storage_class))
    if probe_pvc:
        rows.append(bind_probe_row(api, options))
    return rows


def render(rows: list[Row]) -> str:
    width = max(len(r.check) for r in rows)
    lines = [f"{'check'.ljust(width)}  {'status':7}  detail", f"{'-' * width}  -------  ------"]
    lines += [f"{r.check.ljust(width)}  {r.mark:7}  {r.detail}" for r in rows]
    missing = sum(r.ok is False for r in rows)
    lines.append(f"\n{missing} missing" if missing else "\neverything the suite needs is there")
    return "\n".join(lines)


def parse_defines(argv: list[str]) -> dict[str, str]:
    """``-D key=value`` / ``--define key=value`` arguments, as behave takes them."""
    values, args = {}, list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-D", "--define") and args:
            arg = args.pop(0)
        elif arg.startswith("-D") and len(arg) > 2:
            arg = arg[2:]
        elif arg.startswith("--define="):
            arg = arg.split("=", 1)[1]
        else:
            raise SystemExit(f"preflight takes -D key=value options only, got {arg!r}")
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"-D {arg}: expected key=value")
        values[key] = value
    return values


def main(argv: list[str] | None = None) -> int:
    defines = parse_defines(sys.argv[1:] if argv is None else argv)
    if defines.get("platform", "kubernetes") != "kubernetes":
        print("preflight checks a cluster: run it with -D platform=kubernetes", file=sys.stderr)
        return 2
    try:
        probe_pvc = parse_bool("probe_pvc", defines.pop("probe_pvc", "false"))
        options = ClusterOptions.from_options(defines)
        api = load_api_client(options)
    except FtError as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 1
    with api:
        rows = preflight(api, options, probe_pvc)
    print(render(rows))
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
