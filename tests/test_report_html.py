"""scripts/report.sh (./run report): the single-file HTML rendered from a real run's Allure results
(tests/data/allure_results: two scenarios of a real behave run on the local platform, one
passed and one failed), opened in headless Chromium (Debian's ``chromium``), driven over the
DevTools protocol. The page must show the scenario names, the failed scenario's message and the
timeline picture, and must request nothing from any host. Needs npm (Allure 3 is installed into
.tools on first use) and chromium (``apt-get install -y chromium``; ./run test installs it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "data" / "allure_results"
PASSED = "a short load passes without a fault"
FAILED = "killing a worker without migration fails requests the check forbids"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report rendered by scripts/report.sh from a copy of the recorded results."""
    work = tmp_path_factory.mktemp("report")
    results = shutil.copytree(RESULTS, work / "allure-results")
    done = subprocess.run([str(ROOT / "scripts" / "report.sh"), str(results), str(work / "allure-report")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip().splitlines()[-1])
    assert page == work / "allure-report" / "index.html" and page.exists()
    return page


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with its DevTools port; its own background traffic switched off."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (./run test installs it)")
    profile = tmp_path_factory.mktemp("chromium")
    process = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                f"--user-data-dir={profile}", "--remote-debugging-port=0", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--window-size=1400,1000", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def failure_message() -> str:
    """The first line of the failed scenario's message, as the recorded result holds it."""
    for path in RESULTS.glob("*-result.json"):
        result = json.loads(path.read_text())
        if result["name"] == FAILED:
            return result["statusDetails"]["message"].splitlines()[0][:80]
    raise AssertionError(f"no recorded result named {FAILED!r}")


class Page:
    """One browser tab over the DevTools protocol: navigate, evaluate, screenshot, and every
    request the page sent."""

    def __init__(self, socket) -> None:
        self.socket, self.requests, self._next = socket, [], 0

    async def call(self, method: str, **params):
        self._next += 1
        await self.socket.send_json({"id": self._next, "method": method, "params": params})
        while True:
            message = await self.socket.receive_json(timeout=60)
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, seconds: float = 20.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"the page never satisfied: {expression}")


async def visit(port: int, url: str, steps):
    async with aiohttp.ClientSession() as session:
        async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
            target = await response.json()
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            page = Page(socket)
            await page.call("Network.enable")
            await page.call("Page.enable")
            await page.call("Page.navigate", url=url)
            await page.wait_for("document.readyState === 'complete' && document.body.innerText.length > 100")
            return await steps(page), page.requests


def test_the_report_shows_both_scenarios_and_requests_nothing_from_any_host(report, browser):
    async def steps(page):
        await page.wait_for(f"document.body.innerText.includes('Total')")
        await asyncio.sleep(2)  # anything the page would fetch after it rendered
        return await page.evaluate("document.documentElement.outerHTML")

    html, requests = asyncio.run(visit(browser, report.as_uri(), steps))
    outside = [url for url in requests if not url.startswith(("file:", "data:", "blob:"))]
    assert outside == []
    assert "googletagmanager" not in report.read_text()
    assert len(html) > 1000


def test_the_report_shows_the_scenario_names_the_failure_message_and_the_timeline_picture(report, browser,
                                                                                          tmp_path):
    ids = {r["name"]: r["id"] for r in json.loads((report.parent / "test-results.json").read_text())["byId"].values()}
    assert {PASSED, FAILED} <= set(ids)
    message = failure_message()

    async def steps(page):
        await page.evaluate(f"location.hash = '#/{ids[FAILED]}'")
        text = await page.wait_for(f"document.body.innerText.includes({json.dumps(message)}) && document.body.innerText")
        await page.evaluate(f"location.hash = '#/{ids[FAILED]}/attachments'")
        await page.wait_for("document.body.innerText.includes('timeline.png')")
        await page.evaluate("[...document.querySelectorAll('*')].filter(e => e.children.length < 3 && "
                            "e.textContent.trim() === 'timeline.png').forEach(e => e.click())")
        image = await page.wait_for("[...document.images].filter(i => i.naturalWidth > 800)"
                                    ".map(i => [i.naturalWidth, i.naturalHeight])[0]")
        shot = await page.call("Page.captureScreenshot", format="png")
        (tmp_path / "failed-scenario.png").write_bytes(__import__("base64").b64decode(shot["data"]))
        await page.evaluate(f"location.hash = '#/{ids[PASSED]}'")
        passed = await page.wait_for(f"document.body.innerText.includes({json.dumps(PASSED)}) && document.body.innerText")
        return text, image, passed

    (text, image, passed), requests = asyncio.run(visit(browser, report.as_uri(), steps))
    assert FAILED in text and PASSED in passed
    # filed as feature / backend / topology
    assert "Allure report sample" in text and "mocker" in text and "agg" in text
    assert message in text
    assert image[0] > 800 and image[1] > 400  # the timeline picture, decoded and drawn
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []
    if os.environ.get("FT_KEEP_SCREENSHOT"):
        shutil.copy(tmp_path / "failed-scenario.png", os.environ["FT_KEEP_SCREENSHOT"])


def test_each_report_adds_its_run_to_the_history_next_to_the_results(tmp_path):
    results = shutil.copytree(RESULTS, tmp_path / "allure-results")
    for _ in range(2):
        done = subprocess.run([str(ROOT / "scripts" / "report.sh"), str(results)], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
    history = (tmp_path / "allure-history.jsonl").read_text().splitlines()
    assert len(history) == 2
    assert (tmp_path / "allure-report" / "index.html").exists()
