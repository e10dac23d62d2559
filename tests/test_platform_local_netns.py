"""ftlib.platform.local.netns: the pod launcher thread and the pods' private network namespace."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import threading

import pytest

from ftlib.errors import PlatformError
from ftlib.platform.local import netns
from ftlib.platform.local.netns import PodLauncher, isolation_mode


def refuse_namespaces(monkeypatch):
    def refused():
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(netns, "_private_network", refused)


def start(argv, env, log_path):
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)


def test_the_isolation_setting_defaults_to_auto_and_accepts_only_auto_on_and_off(monkeypatch):
    monkeypatch.delenv("FT_NETNS", raising=False)
    assert isolation_mode() == "auto"
    assert isolation_mode(" OFF ") == "off"
    with pytest.raises(PlatformError, match="FT_NETNS must be one of auto, on, off, got 'yes'"):
        isolation_mode("yes")


def test_where_namespaces_are_refused_auto_falls_back_to_the_host_network_with_a_warning(monkeypatch, caplog):
    refuse_namespaces(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="ftlib.platform.local"):
        launcher = PodLauncher("t", start, "auto")
    try:
        assert not launcher.isolated
        assert "no private network namespace" in caplog.text and "FT_NETNS=off" in caplog.text
    finally:
        launcher.close()


def test_where_namespaces_are_refused_on_is_an_error(monkeypatch):
    refuse_namespaces(monkeypatch)
    with pytest.raises(PlatformError, match="FT_NETNS=on: no private network namespace"):
        PodLauncher("t", start, "on")


def test_off_starts_pods_in_this_machines_network_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="ftlib.platform.local"):
        launcher = PodLauncher("t", start, "off")
    try:
        child = launcher.spawn([sys.executable, "-c", "import os; print(os.readlink('/proc/self/ns/net'))"], {}, None)
        assert child.communicate()[0].strip() == os.readlink("/proc/self/ns/net")
        assert not launcher.isolated and caplog.text == ""
    finally:
        launcher.close()


def test_isolated_pods_share_one_namespace_that_this_process_is_not_in():
    launcher = PodLauncher("t", start, "auto")
    try:
        if not launcher.isolated:
            pytest.skip("this machine allows no private network namespace (run as root)")
        code = "import os; print(os.readlink('/proc/self/ns/net'))"
        seen = {launcher.spawn([sys.executable, "-c", code], {}, None).communicate()[0].strip() for _ in range(2)}
        assert len(seen) == 1 and seen != {os.readlink("/proc/self/ns/net")}
        # the calling thread stays where it was; only the launcher thread moved
        assert os.readlink(f"/proc/self/task/{threading.get_native_id()}/ns/net") == os.readlink("/proc/self/ns/net")
    finally:
        launcher.close()


def test_a_closed_launcher_refuses_to_start_anything():
    launcher = PodLauncher("t", start, "off")
    launcher.close()
    with pytest.raises(PlatformError, match="pod launcher thread pod-launcher-t has ended"):
        launcher.spawn(["true"], {}, None)
