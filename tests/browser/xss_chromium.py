#!/usr/bin/python3
"""The XSS corpus in a real browser (headless Chromium through Selenium).

Each case of tests/data/xss is loaded twice as a top-level page WITH
scripts enabled and no CSP or sandbox (so only the sanitizer protects it):
raw, as the attacker wrote it, and sanitized (the files test_sanitize
writes under SG_XSS_DUMP). A prelude replaces alert/confirm/prompt/print by
counters; after the load and a short wait for onload/onerror/onfocus/
animation handlers, the page's counters and Chromium's own network log are
read. The raw pages prove the harness sees script run; the sanitized pages
must run none and request nothing outside file://.

    bash scripts/install-deps.sh --browser
    SG_XSS_DUMP=DIR build/test_sanitize && /usr/bin/python3 tests/browser/xss_chromium.py DIR
"""
import glob
import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PRELUDE = (
    "<!DOCTYPE html><html><head><meta charset=utf-8><script>"
    "window.__fired=0;"
    "['alert','confirm','prompt','print'].forEach(function(n){"
    "window[n]=function(){window.__fired++;}});"
    "</script></head><body>"
)


def main():
    dump = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(10)
    work = tempfile.mkdtemp(prefix="sg-xss-")
    cases = sorted(glob.glob(os.path.join(dump, "case*.in.html")))
    if limit:
        cases = cases[:limit]
    fired = {"in": 0, "out": 0}
    remote = {"in": 0, "out": 0}
    bad = []
    for c in cases:
        for kind in ("in", "out"):
            path = c.replace(".in.html", "." + kind + ".html")
            with open(path, "rb") as f:
                body = f.read()
            page = os.path.join(work, os.path.basename(path))
            with open(page, "wb") as f:
                f.write(PRELUDE.encode() + body)
            drv.get_log("performance")  # drop what came before
            try:
                drv.get("file://" + page)
            except Exception:
                pass
            time.sleep(0.05)  # let onload/onerror/onfocus handlers run
            try:
                n = drv.execute_script("return window.__fired||0") or 0
            except Exception:
                n = 0
            # a dialog left open by a handler that ran before our prelude
            try:
                drv.switch_to.alert.dismiss()
                n += 1
            except Exception:
                pass
            reqs = []
            for e in drv.get_log("performance"):
                m = json.loads(e["message"])["message"]
                if m.get("method") == "Network.requestWillBeSent":
                    u = m["params"]["request"]["url"]
                    if not (u.startswith("file://") or u.startswith("data:")):
                        reqs.append(u)
            if n:
                fired[kind] += 1
            if reqs:
                remote[kind] += 1
            if kind == "out" and (n or reqs):
                bad.append((os.path.basename(path), n, reqs[:3]))
    version = drv.capabilities.get("browserVersion", "?")
    drv.quit()
    total = len(cases)
    print(f"Chromium {version}, {total} cases")
    print(f"raw corpus:       script ran in {fired['in']}/{total} pages, "
          f"remote requests from {remote['in']}/{total}")
    print(f"sanitized corpus: script ran in {fired['out']}/{total} pages, "
          f"remote requests from {remote['out']}/{total}")
    for b in bad:
        print("NOT INERT in the browser:", b)
    if fired["in"] == 0:
        print("the harness saw no script run even on raw input: it is broken")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
