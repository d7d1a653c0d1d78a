#!/usr/bin/python3
"""The dashboard in a real browser: Debian's headless Chromium driven over WebDriver.

Starts the built hookrun with a state folder and an admin token, deploys two images, then in
the browser: logs in, sees the job list, opens a running job and watches its output arrive,
rolls the target back from its deploy page and sees the new job; a page on another origin
posting the pause form is refused. Screenshots go to target/ui/ (desktop and phone).

Usage: tests/ui/dashboard.py [path/to/hookrun]   (default target/debug/hookrun)
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/hookrun"))
SHOTS = os.path.join(ROOT, "target", "ui")
TOKEN = "ui-test-admin-token-" + os.urandom(8).hex()

DEPLOY = r"""
state="$2"; img="$1"
before=$(cat "$state" 2>/dev/null || echo none)
echo "pulling $img"; sleep 0.2; echo "updating service web to $img"
printf 'target=swarm:web\nimage_before=%s\nimage_after=%s\ndigest=sha256:%s\nstatus=deployed\n' \
  "$before" "$img" "$(printf %s "$img" | sha256sum | cut -c1-64)" >> "$HOOKRUN_RESULT"
echo "$img" > "$state"
"""

SLOW = r"""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  echo "step $i of 20: migrating shard $i"; sleep 0.4
done
echo done
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg):
    print("FAIL dashboard: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok   " + msg)


class Hookrun:
    def __init__(self, folder):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        hooks = [
            {"id": "deploy", "execute-command": "/bin/sh", "concurrency": "serial",
             "pass-arguments-to-command": [
                 {"source": "string", "name": "-c"}, {"source": "string", "name": DEPLOY},
                 {"source": "string", "name": "sh"}, {"source": "payload", "name": "image"},
                 {"source": "string", "name": os.path.join(folder, "running")}]},
            {"id": "migrate", "execute-command": "/bin/sh",
             "pass-arguments-to-command": [
                 {"source": "string", "name": "-c"}, {"source": "string", "name": SLOW}]},
        ]
        with open(os.path.join(folder, "hooks.json"), "w") as f:
            json.dump(hooks, f)
        with open(os.path.join(folder, "token"), "w") as f:
            f.write(TOKEN + "\n")
        self.log = open(os.path.join(SHOTS, "hookrun.log"), "w")
        self.proc = subprocess.Popen(
            [BIN, "-hooks", "hooks.json", "-ip", "127.0.0.1", "-port", str(self.port),
             "-state", "state", "-admin-token-file", "token", "-verbose"],
            cwd=folder, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        fail("hookrun did not start")

    def request(self, method, path, body=None, admin=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if admin:
            req.add_header("Authorization", "Bearer " + TOKEN)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def trigger(self, hook, body):
        status, headers, _ = self.request("POST", "/hooks/" + hook, body)
        if status != 200:
            fail("triggering %s: %d" % (hook, status))
        return headers["Hookrun-Job-Id"]

    def wait(self, job):
        for _ in range(400):
            _, _, body = self.request("GET", "/jobs/" + job)
            j = json.loads(body)
            if j["state"] not in ("queued", "running"):
                return j
            time.sleep(0.05)
        fail("job %s did not end" % job)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def shot(driver, name, width=1280, height=None):
    if height is None:
        height = max(900, driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, height)
    path = os.path.join(SHOTS, name)
    driver.save_screenshot(path)
    print("     screenshot " + os.path.relpath(path, ROOT))


def evil_site(target_base, port):
    """A page on another origin that posts the pause form to hookrun when opened."""
    page = ("<!doctype html><form id=f method=post action='%s/admin/hooks/deploy/pause'>"
            "<input name=back value=/ui></form><script>document.getElementById('f').submit()</script>"
            % target_base).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        hookrun = Hookrun(folder)
        driver = None
        evil = None
        try:
            v1 = hookrun.trigger("deploy", {"image": "registry.test/shop/web:v1"})
            hookrun.wait(v1)
            v2 = hookrun.trigger("deploy", {"image": "registry.test/shop/web:v2"})
            hookrun.wait(v2)
            driver = browser()
            # The job list refreshes itself and a job's page reloads when the job ends:
            # elements found a moment ago may be gone, so look again.
            wait = WebDriverWait(driver, 15, ignored_exceptions=(
                StaleElementReferenceException, NoSuchElementException))

            driver.get(hookrun.base + "/ui")
            check(driver.find_elements(By.ID, "token"), "an unauthenticated /ui shows the login form")
            shot(driver, "01-login.png", height=700)
            driver.find_element(By.ID, "token").send_keys(TOKEN)
            driver.find_element(By.ID, "login").click()
            wait.until(EC.presence_of_element_located((By.ID, "jobs")))
            rows = driver.find_elements(By.CSS_SELECTOR, "#jobs tr.job-row")
            check(len(rows) == 2, "logged in: the job list shows both deploys (%d rows)" % len(rows))

            running = hookrun.trigger("migrate", {})
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs tr.job-row[data-state=running]"))
            check(True, "the job list refreshes by itself and shows the running job")
            shot(driver, "02-dashboard.png")

            link = wait.until(lambda d: d.find_element(
                By.CSS_SELECTOR, "#jobs tr.job-row[data-state=running] a.job-link").get_attribute("href"))
            driver.get(link)
            wait.until(EC.presence_of_element_located((By.ID, "output")))
            check(running[:12] in driver.title, "the running job's page opened")
            wait.until(lambda d: "step 3 of 20" in d.find_element(By.ID, "output").text)
            first = driver.find_element(By.ID, "output").text
            time.sleep(1.5)
            later = driver.find_element(By.ID, "output").text
            state = hookrun.request("GET", "/jobs/" + running)[2]
            check(len(later) > len(first) and '"running"' in state,
                  "output arrives live while the job runs (%d -> %d bytes)" % (len(first), len(later)))
            shot(driver, "03-job-live.png")
            wait.until(lambda d: "done" in d.find_element(By.ID, "output").text)
            wait.until(lambda d: "succeeded" in d.find_element(By.ID, "job-state").text)
            check(True, "the page shows the job's end")

            driver.get(hookrun.base + "/ui/deploys/swarm:web")
            buttons = driver.find_elements(By.CSS_SELECTOR, "button.rollback-button")
            check(len(buttons) == 1, "the deploy history offers to roll back to v1 (and not to the current v2)")
            shot(driver, "04-target.png")
            buttons[0].click()
            driver.switch_to.alert.accept()
            wait.until(lambda d: "/ui/jobs/" in d.current_url)
            new_job = driver.current_url.rsplit("/", 1)[1]
            check(new_job not in (v1, v2), "roll back started a new job %s" % new_job)
            job = hookrun.wait(new_job)
            check(job["trigger"] == {"kind": "rollback", "target": "swarm:web", "of": v1}
                  and job["result"]["image_after"].endswith(":v1"),
                  "the new job redeployed v1's image")
            driver.refresh()
            wait.until(lambda d: "rollback to" in d.page_source and "succeeded" in d.find_element(By.ID, "job-state").text)
            shot(driver, "05-rollback-job.png")
            driver.get(hookrun.base + "/ui/deploys/swarm:web")
            shot(driver, "06-target-after.png")

            driver.get(hookrun.base + "/ui")
            shot(driver, "07-phone.png", width=390, height=844)
            width = driver.execute_script("return document.documentElement.scrollWidth")
            check(width <= 390, "the dashboard fits a phone's width (%d px)" % width)
            driver.set_window_size(1280, 900)

            evil_port = free_port()
            evil = evil_site(hookrun.base, evil_port)
            driver.get("http://127.0.0.1:%d/" % evil_port)
            time.sleep(1.5)
            status, _, body = hookrun.request("GET", "/admin/hooks", admin=True)
            paused = [h for h in json.loads(body)["hooks"] if h["paused"]]
            check("Refused" in driver.page_source and not paused,
                  "a cross-site form post is refused and pauses nothing")
        except TimeoutException as e:
            if driver:
                shot(driver, "failure.png")
            fail("timed out: %s" % e)
        finally:
            if driver:
                driver.quit()
            if evil:
                evil.shutdown()
            hookrun.stop()
    print("dashboard: all checks passed")


if __name__ == "__main__":
    main()
