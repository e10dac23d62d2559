"""The services' output kept on the run's shared log PVC, so the logs of deleted pods (and of
every earlier container of a pod, not just the one previous container) reach the evidence.

`add_log_tee` edits a DGD body (both API versions): the PVC is referenced and mounted at
`MOUNT_PATH` in every service's main container, ``POD_NAME`` comes from a ``fieldRef``, and the
main container's declared ``command`` is wrapped by `wrap_command`::

    ["/bin/sh", "-c", TEE_SCRIPT, "ft-log-tee", *command]     (``args`` are left as they are)

`TEE_SCRIPT` is fixed text: the service's command and arguments reach it only as positional
parameters (``"$@"``), never as shell text, so a step's ``$(...)`` or ``;`` stays literal. It
starts ``tee -a <stamp>.log`` (in ``/ft-logs/<pod>/``; ``FT_LOG_ROOT`` overrides ``/ft-logs``) reading a FIFO, points its own stdout and
stderr at that FIFO and then ``exec``\\ s the command: the engine keeps the shell's PID, its exit
code is the container's and the kubelet's and the faults' signals reach it directly; ``kubectl
logs`` still shows everything (tee copies to the container's stdout). The tee's command line
holds only the stamp, so a fault matching processes by name never hits it.

Limits (as far as sh allows): stdout and stderr become one stream (the container log shows both
as stdout); for the few microseconds between the FIFO opening and ``exec`` the tee's shell still
shows the wrapper's command line; when the tee itself dies (OOM, a fault aimed at ``tee``) the
engine's next write fails with SIGPIPE/EPIPE. When the folder, the FIFO or ``tee`` is missing the
wrapper says so on stderr and runs the command unwrapped: the log copy never stops a service.
Services that declare no ``command`` (the operator supplies it, e.g. a frontend) are not wrapped.
"""

from __future__ import annotations

import copy
from typing import Any

MOUNT_PATH = "/ft-logs"
VOLUME = "ft-logs"
ARGV0 = "ft-log-tee"
POD_NAME_ENV = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
TEE_SCRIPT = r"""case "${POD_NAME:-}" in
''|.|..|*/*) echo "ft-log-tee: no usable POD_NAME; output not copied to the log PVC" >&2; exec "$@" ;;
esac
d="${FT_LOG_ROOT:-/ft-logs}/$POD_NAME"
s="$(date -u +%Y%m%dT%H%M%S)"
p="/tmp/ft-log-tee.$$"
if command -v tee >/dev/null && command -v mkfifo >/dev/null && mkdir -p "$d" && : >>"$d/$s.log" \
   && rm -f "$p" && mkfifo "$p"; then
  (cd "$d" && exec tee -a "$s.log") <"$p" &
  exec >"$p" 2>&1
  rm -f "$p"
else
  echo "ft-log-tee: cannot write $d/$s.log; output goes to the container log only" >&2
fi
exec "$@"
"""


def wrap_command(command: list[str]) -> list[str]:
    """``command`` run by `TEE_SCRIPT`, each word a separate argument (none becomes shell text)."""
    return ["/bin/sh", "-c", TEE_SCRIPT, ARGV0, *[str(word) for word in command]]


def is_wrapped(command: list[str]) -> bool:
    return list(command[:4]) == ["/bin/sh", "-c", TEE_SCRIPT, ARGV0]


def add_log_tee(body: dict[str, Any], pvc: str) -> list[str]:
    """Mount ``pvc`` in every service of the DGD ``body`` and wrap each declared command (in
    place). Returns the services whose command was wrapped."""
    spec = body["spec"]
    wrapped = []
    if body["apiVersion"].endswith("/v1alpha1"):
        claims = spec.setdefault("pvcs", [])
        if not any(c.get("name") == pvc for c in claims):
            claims.append({"name": pvc, "create": False})
        for name, service in spec["services"].items():
            mounts = service.setdefault("volumeMounts", [])
            mounts.append({"name": pvc, "mountPoint": MOUNT_PATH})
            service["envs"] = [e for e in service.get("envs") or [] if e.get("name") != "POD_NAME"] + [copy.deepcopy(POD_NAME_ENV)]
            container = service.setdefault("extraPodSpec", {}).setdefault("mainContainer", {})
            if _wrap(container):
                wrapped.append(name)
        return wrapped
    for component in spec["components"]:
        pod = component.setdefault("podTemplate", {}).setdefault("spec", {})
        pod.setdefault("volumes", []).append({"name": VOLUME, "persistentVolumeClaim": {"claimName": pvc}})
        containers = pod.setdefault("containers", [])
        container = next((c for c in containers if c.get("name") == "main"), None)
        if container is None:
            container = {"name": "main"}
            containers.append(container)
        container.setdefault("volumeMounts", []).append({"name": VOLUME, "mountPath": MOUNT_PATH})
        container["env"] = [e for e in container.get("env") or [] if e.get("name") != "POD_NAME"] + [copy.deepcopy(POD_NAME_ENV)]
        if _wrap(container):
            wrapped.append(component["name"])
    return wrapped


def _wrap(container: dict) -> bool:
    command = container.get("command") or []
    if not command or is_wrapped(command):
        return False
    container["command"] = wrap_command(command)
    return True
