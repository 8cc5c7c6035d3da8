"""edgectl dashboard (issue 14, the dashboard): the real `edgectl dashboard` binary on a real
Mosquitto, three real agents, and the page in a real headless Chromium (Selenium, the system's
chromedriver, nothing downloaded). The page must show every device, a function's crash, a device
going offline by its last will and a group deployment's progress, each within seconds of the
MQTT message; the token must be enforced and a non-loopback address refused without one.

Chromium, chromium-driver and selenium come from scripts/setup.sh; without them the test skips,
except under CI=true, where it fails. A screenshot of the page is saved in
Tests/Integration/artifacts/dashboard.png (docs/images/dashboard.png is a copy of a good one)."""

import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import harness as h

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = h.REPO / "Tests" / "Integration" / "artifacts"
PAGE_WAIT = 20  # seconds: generous for a loaded machine; the page itself follows within a second


def _edgectl(agent_bin):
    return str(agent_bin.with_name("edgectl"))


def _clean_env(extra=None):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("EDGECTL_")}
    env.update(extra or {})
    return env


class DashboardProcess:
    """`edgectl dashboard` running, its URL read from the line it prints once listening."""

    def __init__(self, agent_bin, broker, *args, env=None):
        command = [_edgectl(agent_bin), "dashboard", "--host", "127.0.0.1", "--port", str(broker.port)] + list(args)
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=_clean_env(env))
        self.url = None
        self.lines = []
        deadline = time.monotonic() + PAGE_WAIT
        while self.url is None:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise h.HarnessError("edgectl dashboard printed no URL within %d s (exit %s); it printed %r; stderr: %s"
                                     % (PAGE_WAIT, self.proc.returncode, self.lines, self.proc.stderr.read()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                self.lines.append(line)
                if "listening on http://" in line:
                    self.url = line.split("listening on ", 1)[1].strip()

    @property
    def port(self):
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path, headers=None):
        """(status, headers, body) of a plain HTTP GET to 127.0.0.1 on the dashboard's port."""
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.headers, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def dashboard(agent_bin, broker):
    started = []

    def start(*args, env=None):
        process = DashboardProcess(agent_bin, broker, *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def browser():
    """Headless Chromium through the system's chromedriver (no selenium-manager download)."""
    h.require(os.path.exists(CHROMEDRIVER) and (shutil.which("chromium") or shutil.which("chromium-browser")),
              "needs chromium and chromium-driver (%s): run scripts/setup.sh" % CHROMEDRIVER)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        h.require(False, "needs the Python package selenium: run scripts/setup.sh (requirements-dev.txt)")
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,1400", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait(driver, condition, what):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def safe(d):
        try:
            return condition(d)
        except StaleElementReferenceException:  # redrawn between finding and reading: try again
            return False
    try:
        return WebDriverWait(driver, PAGE_WAIT, poll_frequency=0.1).until(safe)
    except TimeoutException:
        raise h.HarnessError("the page did not show %s within %d s; it shows:\n%s"
                             % (what, PAGE_WAIT, driver.find_element("tag name", "body").text[:3000]))


def _caps():
    """Memory and CPU caps where this machine's cgroups can enforce them (the bars then show use
    against them); none elsewhere, where the agent would refuse a deployment that asks for them."""
    if os.geteuid() != 0:
        return None
    mounts = h.cgroup_mounts()
    v2 = any(m.version == "v2" and {"memory", "cpu"} <= set(m.controllers) for m in mounts)
    v1 = all(any(m.version == "v1" and c in m.controllers for m in mounts) for c in ("memory", "cpu"))
    return {"memoryMB": 64, "cpus": 0.5} if v1 or v2 else None


class Traffic:
    """Events for every echo at a steady pace (load for the charts, not a synchronisation)."""

    def __init__(self, observer, per_second=10):
        self.observer = observer
        self.interval = 1.0 / per_second
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stopped.wait(self.interval):
            self.observer.publish("sensors/s%d/x" % (n % 7), json.dumps({"n": n}), qos=0)
            n += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(5)


def _cards(driver):
    return {card.get_attribute("data-thing"): card for card in driver.find_elements("css selector", "#devices .device")}


def _function_row(driver, thing, function):
    rows = driver.find_elements("css selector", '#devices .device[data-thing="%s"] tr[data-function="%s"]' % (thing, function))
    return rows[0] if rows else None


def _restarts(driver, thing, function):
    """The restarts the page shows for a function; -1 while it shows no row for it (a redraw)."""
    row = _function_row(driver, thing, function)
    return int(row.find_element("css selector", ".restarts").text) if row else -1


def _points(driver, thing, function):
    """How many points the invocations chart of a function has drawn."""
    row = _function_row(driver, thing, function)
    lines = row.find_elements("css selector", "svg polyline.rate") if row else []
    return len(lines[0].get_attribute("points").split()) if lines else 0


def test_the_page_follows_the_fleet_live(agent, broker, agent_bin, echo_bin, tmp_path, make_observer, dashboard, browser):
    group = h.unique("line-")
    names = sorted(h.unique("cam-") for _ in range(3))
    grouped, alone = names[:2], names[2]
    agents = {name: agent(thing_name=name, groups=(group,) if name in grouped else (), health_interval=1)
              for name in names}
    observer = make_observer(broker.port)
    edge = h.Edge(observer, alone)
    echo = h.native_function(echo_bin, limits=_caps())
    edge.deploy(h.document("echo-alone", 1, {"echo": echo}))

    started = time.monotonic()
    page = dashboard("--listen", "127.0.0.1:0")
    browser.get(page.url)
    _wait(browser, lambda d: set(names) <= set(_cards(d)) and all(
        _cards(d)[n].get_attribute("data-status") == "online" for n in names), "the three devices online")
    assert browser.find_element("id", "connection").text == "live"

    # A group deployment: its progress reaches every member SUCCEEDED.
    observer.publish("edge/groups/%s/deployment" % group, json.dumps(h.document("echo-group", 1, {"echo": echo})),
                     retain=True)

    def group_done(d):
        cards = d.find_elements("css selector", '#groups .group[data-group="%s"]' % group)
        if not cards or cards[0].get_attribute("data-total") != "2" or cards[0].get_attribute("data-done") != "2":
            return False
        counts = {c.get_attribute("data-state"): c.text.split()[0] for c in cards[0].find_elements("css selector", ".count")}
        return counts["SUCCEEDED"] == "2" and counts
    counts = _wait(browser, group_done, "group %s's deployment SUCCEEDED on both members" % group)
    assert counts["FAILED"] == "0" and counts["IN_PROGRESS"] == "0", counts

    with Traffic(observer):
        # Every echo answers: the latest results, and the charts of invocations and latency.
        _wait(browser, lambda d: d.find_elements("css selector", "#results tbody tr"), "the latest results of a function")
        first = browser.find_element("css selector", "#results tbody tr").text
        assert "ok" in first and '"n"' in first, first
        _wait(browser, lambda d: all(_points(d, name, "echo") >= 3 for name in names),
              "three points or more on each echo's invocations chart")

        # A function crash: its process killed, the agent restarts it; the page counts the restart.
        pid = edge.function_health("echo", lambda f: f.get("pid"), what="echo's pid on %s" % alone)["pid"]
        os.kill(pid, signal.SIGKILL)
        _wait(browser, lambda d: _restarts(d, alone, "echo") >= 1, "a restart of echo on %s after its process was killed" % alone)
        _wait(browser, lambda d: d.find_elements("css selector", '#events tr[data-type="function.crashed"]'),
              "the function.crashed event")

        # A device lost without a goodbye (SIGKILL): the broker publishes its last will.
        agents[grouped[1]].kill()
        _wait(browser, lambda d: _cards(d)[grouped[1]].get_attribute("data-status") == "offline"
              and "connection lost" in _cards(d)[grouped[1]].text, "%s offline by its last will" % grouped[1])
        elapsed = time.monotonic() - started

        # The broker restarts (nothing kept): the dashboard reconnects and subscribes again by
        # itself, and the page follows what happens after, here a second crash.
        broker.stop()
        broker.start()
        live = [grouped[0], alone]
        _wait(browser, lambda d: all(_cards(d)[n].get_attribute("data-status") == "online" for n in live),
              "%s online again after the broker restarted" % " and ".join(live))
        pid = edge.function_health("echo", lambda f: f.get("pid") and f.get("pid") != pid and f["state"] == "RUNNING",
                                   what="echo running again on %s" % alone)["pid"]
        os.kill(pid, signal.SIGKILL)
        _wait(browser, lambda d: _restarts(d, alone, "echo") >= 2,
              "the second restart of echo on %s, after the broker restarted" % alone)

        row = _function_row(browser, grouped[0], "echo")
        assert len(row.find_elements("css selector", ".bar")) == 2, row.text
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        shutil.copyfile(tmp_path / "dashboard.png", ARTIFACTS / "dashboard.png")
    assert elapsed < 45, "the page took %.1f s to follow the scenario" % elapsed

    # A browser that goes away leaves no stream behind.
    assert json.loads(page.get("/api/pages")[2])["pages"] == 1
    browser.get("about:blank")
    h.poll_until(lambda: json.loads(page.get("/api/pages")[2])["pages"] == 0, 15,
                 "the dashboard to drop the stream of the page that went away", interval=0.2)


def test_the_token_is_enforced_and_remote_listening_needs_it(broker, agent_bin, tmp_path, dashboard):
    edgectl = _edgectl(agent_bin)
    refused = subprocess.run([edgectl, "dashboard", "--listen", "0.0.0.0:0"], capture_output=True, text=True,
                             env=_clean_env(), timeout=30)
    assert refused.returncode == 64, refused
    assert "not a loopback address" in refused.stderr and "--allow-remote" in refused.stderr, refused.stderr
    no_token = subprocess.run([edgectl, "dashboard", "--listen", "0.0.0.0:0", "--allow-remote"], capture_output=True,
                              text=True, env=_clean_env(), timeout=30)
    assert no_token.returncode == 64 and "needs a token" in no_token.stderr, no_token
    weak = tmp_path / "weak.token"
    weak.write_text("short\n")
    short = subprocess.run([edgectl, "dashboard", "--token-file", str(weak)], capture_output=True, text=True,
                           env=_clean_env(), timeout=30)
    assert short.returncode == 64 and "at least 16 characters" in short.stderr and "short" not in short.stderr.split(":")[-1], short
    helped = subprocess.run([edgectl, "dashboard", "--help"], capture_output=True, text=True, env=_clean_env(), timeout=30)
    assert helped.returncode == 0 and "Examples:" in helped.stdout and "edgectl dashboard --listen" in helped.stdout, helped

    secret = "t0k3n-" + h.unique("x") + "-0123456789"
    page = dashboard("--listen", "127.0.0.1:0", env={"EDGECTL_DASHBOARD_TOKEN": secret})
    assert secret not in "".join(page.lines), "the token is never printed"
    for path, headers in (("/", {}), ("/?token=wrong-token-0123456789", {}), ("/events", {}), ("/dashboard.js", {}),
                          ("/api/fleet", {"Authorization": "Bearer " + secret[:-1]})):
        status, answer_headers, _ = page.get(path, headers)
        assert status == 401, "%s without the right token: %s" % (path, status)
        assert answer_headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = page.get("/", {"Authorization": "Bearer " + secret})
    assert status == 200 and "<title>edge fleet</title>" in body, (status, body[:200])
    assert "default-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = page.get("/?token=" + secret)
    assert status == 200 and "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"], headers
    assert page.get("/dashboard.js", {"Cookie": headers["Set-Cookie"].split(";")[0]})[0] == 200
    request = urllib.request.Request("http://127.0.0.1:%d/events?token=%s" % (page.port, secret))
    with urllib.request.urlopen(request, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.readline().decode().startswith(("retry:", "event: snapshot"))

    token_file = tmp_path / "dashboard.token"
    token_file.write_text(secret + "\n")
    remote = dashboard("--listen", "0.0.0.0:0", "--allow-remote", "--token-file", str(token_file))
    assert remote.url.startswith("http://0.0.0.0:"), remote.url
    assert remote.get("/")[0] == 401
    assert remote.get("/", {"Authorization": "Bearer " + secret})[0] == 200
