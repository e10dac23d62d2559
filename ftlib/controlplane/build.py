"""Build kube-apiserver, kube-controller-manager, kube-scheduler and etcd from their Go modules.

The binaries come from two wrapper modules of this project's own (`gomod/kubernetes`,
`gomod/etcd`): each holds only a go.mod, its go.sum and a tools file naming the main packages.
`k8s.io/kubernetes` maps its staging modules to `./staging` with `replace` lines, which a module
that requires it cannot follow, so its wrapper replaces every staging module by the published
`k8s.io/<m> v0.<minor>.<patch>`; `regenerate` derives that list from the release's own go.mod.
etcd gets a wrapper of its own because kubernetes 1.37 requires etcd 3.7 modules: in one module,
minimal version selection would lift the etcd server to 3.7.

Binaries go to `~/.cache/dynamo-ft/controlplane/<version>/`, with a stamp holding a hash of both
go.sum files: a later build with the same stamp does nothing.

    python -m ftlib.controlplane.build            # build (once per machine), print the folder
    python -m ftlib.controlplane.build regenerate [k8s-version] [etcd-version]
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GOMOD = Path(__file__).resolve().parent / "gomod"
KUBERNETES_MODULE = GOMOD / "kubernetes"
ETCD_MODULE = GOMOD / "etcd"
CACHE = Path(os.environ.get("FT_CONTROLPLANE_CACHE", Path.home() / ".cache" / "dynamo-ft" / "controlplane"))
KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES = KUBE_COMMANDS + ("etcd",)
ETCD_PACKAGE = "go.etcd.io/etcd/server/v3"


class BuildError(RuntimeError):
    """The control plane could not be built: the message names the step and the module."""


@dataclass(frozen=True)
class Binaries:
    """Where the built binaries are, and the releases they were built from."""
    folder: Path
    kubernetes: str
    etcd: str

    def path(self, name: str) -> Path:
        return self.folder / name


def required_version(module_dir: Path, module: str) -> str:
    """The version of `module` that a wrapper's go.mod requires."""
    text = (module_dir / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not found:
        raise BuildError(f"{module_dir / 'go.mod'} does not require {module}")
    return found.group(1)


def stamp() -> str:
    """A hash of both wrappers' go.mod and go.sum: the binaries' key."""
    digest = hashlib.sha256()
    for module_dir in (KUBERNETES_MODULE, ETCD_MODULE):
        for name in ("go.mod", "go.sum"):
            digest.update((module_dir / name).read_bytes())
    return digest.hexdigest()[:16]


def installed() -> Binaries | None:
    """The binaries if they were built from the wrappers as they are now, else None."""
    binaries = _binaries()
    stamp_file = binaries.folder / "stamp"
    if not stamp_file.is_file() or stamp_file.read_text().strip() != stamp():
        return None
    if not all(binaries.path(name).is_file() for name in BINARIES):
        return None
    return binaries


def _binaries() -> Binaries:
    version = required_version(KUBERNETES_MODULE, "k8s.io/kubernetes")
    return Binaries(CACHE / version, version, required_version(ETCD_MODULE, ETCD_PACKAGE))


def go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly -buildvcs=false")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _go(args: list[str], cwd: Path, what: str) -> str:
    if shutil.which("go") is None:
        raise BuildError("the control plane is built from Go modules, and `go` is not on PATH (Go 1.26 or newer)")
    done = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{what} failed (go {' '.join(args)} in {cwd}):\n{_missing_module(done.stderr)}")
    return done.stdout


def _missing_module(stderr: str) -> str:
    """go's error, led by the one module the proxy did not serve when that is the cause."""
    found = re.search(r"(\S+@v\S+): (?:reading|verifying|unrecognized import|invalid version).*", stderr)
    tail = stderr.strip()[-3000:]
    return f"module not served: {found.group(1)}\n{tail}" if found else tail


def version_ldflags(version: str) -> str:
    """-ldflags with the version stamps, so that /version reports the release, not v0.0.0-master."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = {"gitVersion": version, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z"}
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X '{package}.{key}={value}'" for key, value in stamps.items()]
    return " ".join(flags)


def build(progress=print) -> Binaries:
    """Build what is missing (once per machine) and return where the binaries are."""
    ready = installed()
    if ready is not None:
        return ready
    binaries = _binaries()
    staging = binaries.folder.with_name(binaries.folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.monotonic()
    for name in KUBE_COMMANDS:
        progress(f"building {name} {binaries.kubernetes} from k8s.io/kubernetes "
                 f"(the first build on a machine takes long; {time.monotonic() - started:.0f} s so far)")
        _go(["build", "-trimpath", "-ldflags", version_ldflags(binaries.kubernetes), "-o", str(staging / name),
             f"k8s.io/kubernetes/cmd/{name}"], KUBERNETES_MODULE, f"building {name}")
    progress(f"building etcd {binaries.etcd} from {ETCD_PACKAGE} ({time.monotonic() - started:.0f} s so far)")
    _go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "etcd"), ETCD_PACKAGE],
        ETCD_MODULE, "building etcd")
    (staging / "stamp").write_text(stamp() + "\n")
    (staging / "build.json").write_text(json.dumps(
        {"kubernetes": binaries.kubernetes, "etcd": binaries.etcd, "seconds": round(time.monotonic() - started, 1),
         "go": _go(["env", "GOVERSION"], KUBERNETES_MODULE, "go env").strip()}, indent=2) + "\n")
    shutil.rmtree(binaries.folder, ignore_errors=True)
    staging.rename(binaries.folder)
    progress(f"control plane built in {time.monotonic() - started:.0f} s: {binaries.folder}")
    return binaries


# --- regenerating the wrappers (a developer's command; go.mod and go.sum are committed) --------

def staging_modules(release_gomod: str) -> list[str]:
    """Every staging module a kubernetes release's go.mod maps to ./staging."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", release_gomod, re.M)))


def kubernetes_wrapper_gomod(version: str, release_gomod: str) -> str:
    go_line = re.search(r"^go\s+(\S+)", release_gomod, re.M)
    godebug = re.search(r"^godebug\s+.+$", release_gomod, re.M)
    staging_version = "v0." + version.lstrip("v").split(".", 1)[1]
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in staging_modules(release_gomod))
    return (
        "// Generated by `python -m ftlib.controlplane.build regenerate`: a wrapper that builds the\n"
        f"// control plane's binaries from k8s.io/kubernetes {version} (see ftlib/controlplane/build.py).\n"
        "module dynamo-ft.local/controlplane/kubernetes\n\n"
        f"go {go_line.group(1) if go_line else '1.26.0'}\n\n"
        + (godebug.group(0) + "\n\n" if godebug else "")
        + f"require k8s.io/kubernetes {version}\n\nreplace (\n{replaces}\n)\n"
    )


def _tools_file(imports: list[str]) -> str:
    lines = "\n".join(f'\t_ "{i}"' for i in imports)
    return ("//go:build tools\n\n// The main packages this wrapper builds; never compiled itself.\n"
            f"package tools\n\nimport (\n{lines}\n)\n")


def regenerate(kubernetes_version: str, etcd_version: str, progress=print) -> None:
    """Write both wrappers for these releases and resolve their go.sum through the module proxy."""
    for folder in (KUBERNETES_MODULE, ETCD_MODULE):
        folder.mkdir(parents=True, exist_ok=True)
    progress(f"reading k8s.io/kubernetes {kubernetes_version}'s go.mod from the module proxy")
    info = json.loads(_go(["mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"], GOMOD,
                          f"downloading k8s.io/kubernetes@{kubernetes_version}"))
    release_gomod = Path(info["GoMod"]).read_text()
    (KUBERNETES_MODULE / "go.mod").write_text(kubernetes_wrapper_gomod(kubernetes_version, release_gomod))
    (KUBERNETES_MODULE / "tools.go").write_text(_tools_file([f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS]))
    (ETCD_MODULE / "go.mod").write_text(
        "// Generated by `python -m ftlib.controlplane.build regenerate`: builds etcd's server.\n"
        f"module dynamo-ft.local/controlplane/etcd\n\ngo 1.26.0\n\nrequire {ETCD_PACKAGE} {etcd_version}\n")
    (ETCD_MODULE / "tools.go").write_text(_tools_file([ETCD_PACKAGE]))
    for folder in (KUBERNETES_MODULE, ETCD_MODULE):
        progress(f"resolving {folder.name}'s requirements (go mod tidy)")
        env_flags = ["mod", "tidy"]
        done = subprocess.run(["go", *env_flags], cwd=folder, capture_output=True, text=True,
                              env=dict(go_env(), GOFLAGS="-mod=mod"))
        if done.returncode != 0:
            raise BuildError(f"go mod tidy in {folder} failed:\n{_missing_module(done.stderr)}")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["regenerate"]:
            regenerate(argv[1] if len(argv) > 1 else "v1.37.2", argv[2] if len(argv) > 2 else "v3.6.17")
            return 0
        print(build().folder)
        return 0
    except BuildError as error:
        print(f"control plane: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
