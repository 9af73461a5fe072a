#!/usr/bin/python3
"""spoofguard-view in a real browser (headless Chromium through Selenium), issue 13.

Runs the viewer on a copy of the fixture Maildir (tests/data/viewer, whose
manifest.tsv says what each message must show) and drives Debian's Chromium
the way a reader would: log in, read the list, open each message, click its
links. Every check is counted; the run fails on any failed check.

What is proven, from the browser itself:
  - login: no page without a session; a wrong password is refused; the
    session cookie is HttpOnly and SameSite=Strict;
  - the list and each message show the manifest's headline (as words and an
    icon with a label), third party and warnings;
  - links in unverified and forged mail are inert: no element with an href
    in the body, and clicking where the link text is navigates nowhere;
  - links in verified mail lead to the interstitial, which names the real
    host and its registrable domain; in unverified/forged mail the
    interstitial asks for a confirmation, and /go without it goes nowhere;
  - the XSS message runs no script: no dialog, none of the payloads' DOM
    markers, no request outside the viewer's origin (Chromium's own
    performance log, Network.requestWillBeSent; data: allowed);
  - remote images are not fetched (a counting HTTP server on
    127.0.0.1:18226 gets 0 hits) and "load images" is offered only on
    verified mail; once a reader asks for them on verified mail they ARE
    fetched (so the 0 above is not a broken counter);
  - the CSRF token is checked, the pages carry their security headers,
    the JSON API agrees with the page, logout ends the session.

    tests/browser/viewer_browser.py --view build/spoofguard-view --src . [--screenshots DIR]

Chromium resolves no name outside loopback (--host-resolver-rules), so a
bug cannot send traffic off the machine; any attempt still shows in the log.
Chromium puts a sandboxed iframe in a process of its own
(IsolateSandboxedIframes), whose requests ChromeDriver's performance log
does not see: the test turns that off, or the log would be blind to the
message body (the sandbox flags and the CSP still apply; the run proves the
log sees the body's requests once images are allowed).
"""
import argparse
import base64
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, UnexpectedAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:  # installed by scripts/install-deps.sh: missing is a failure, not a skip
    print("FAIL python3-selenium is missing (%s): run scripts/install-deps.sh" % e)
    print("0 passed, 1 failed")
    sys.exit(1)

NOW = "1796256000"  # 2026-12-03T00:00:00Z: the fixtures' signatures are valid then (README.md)
AUTHSERV = "mx.home.example"
TRACK_PORT = 18226  # the fixtures' "remote" images point here
TITLES = {"verified": "Verified", "verified_third_party": "Verified through a third party",
          "unverified": "Unverified", "forged": "Forged"}
SANDBOX_ALLOWED = {"allow-popups", "allow-popups-to-escape-sandbox", "allow-top-navigation-by-user-activation"}
PASSWORD = "correct horse battery staple"

# Checks that fail today for a reason outside this test, each with its owner. Such a check is
# reported as KNOWN (not passed); the day it passes it FAILS, so this list cannot go stale.
KNOWN_GAPS = {}  # "check name": "why, and whose code"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.known = 0

    def check(self, name, cond, detail=""):
        if name in KNOWN_GAPS:
            if cond:
                self.failed += 1
                print("FAIL", name, "(passes now: remove it from KNOWN_GAPS)")
            else:
                self.known += 1
                print("KNOWN", name, "(%s)" % KNOWN_GAPS[name])
            return cond
        if cond:
            self.passed += 1
            print("PASS", name)
        else:
            self.failed += 1
            print("FAIL", name, ("(" + str(detail)[:400] + ")") if detail != "" else "")
        return cond


class Tracker(http.server.ThreadingHTTPServer):
    """The "remote" server of the fixtures' images and XSS payloads: counts every request."""

    def __init__(self):
        self.hits = []
        super().__init__(("127.0.0.1", TRACK_PORT), TrackHandler)


class TrackHandler(http.server.BaseHTTPRequestHandler):
    PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                        "0000000d4944415478da63f8ffff3f0005fe02fe0dd1d5e90000000049454e44ae426082")

    def do_GET(self):
        self.server.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.PNG)))
        self.end_headers()
        self.wfile.write(self.PNG)

    do_POST = do_GET

    def log_message(self, *a):
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def read_manifest(path):
    cols = ["name", "file", "subject", "verify", "headline", "third_party", "warnings", "not_warnings", "links",
            "images"]
    out = []
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        r = dict(zip(cols, line.rstrip("\n").split("\t")))
        for k in ("warnings", "not_warnings"):
            r[k] = [w for w in r[k].split(",") if w and w != "-"]
        out.append(r)
    return out


class Run:
    def __init__(self, args, c):
        self.a = args
        self.c = c
        self.shots = []
        self.work = tempfile.mkdtemp(prefix="sg-viewer-browser-")
        self.proc = None
        self.drv = None
        self.tracker = None
        self.logins = 0

    # --- set-up ----------------------------------------------------------------------------
    def start(self):
        data = os.path.join(self.a.src, "tests", "data", "viewer")
        self.fixtures = read_manifest(os.path.join(data, "manifest.tsv"))
        md = os.path.join(self.work, "maildir")
        shutil.copytree(os.path.join(data, "maildir"), md)
        for sub in ("cur", "new", "tmp"):  # git keeps no empty folder
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        h = subprocess.run([self.a.view, "--hash-password"], input=PASSWORD + "\n", capture_output=True, text=True)
        if not self.c.check("--hash-password prints a hash", h.returncode == 0 and h.stdout.strip().startswith("$"),
                            h.stderr or h.stdout):
            return False
        pw = os.path.join(self.work, "passwd")
        with open(os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("# viewer_browser.py\nreader:%s\n" % h.stdout.strip().splitlines()[-1])
        # the fixtures name this port: a concurrent run (another checkout) holds it for a while
        for i in range(240):
            try:
                self.tracker = Tracker()
                break
            except OSError:
                if i == 0:
                    print("waiting for 127.0.0.1:%d (another run of this test holds it)" % TRACK_PORT)
                time.sleep(0.5)
        if not self.c.check("the counting server listens on 127.0.0.1:%d" % TRACK_PORT, self.tracker is not None):
            return False
        threading.Thread(target=self.tracker.serve_forever, daemon=True).start()
        self.port = self.a.port or free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.work, "viewer.log"), "w+")
        cmd = [self.a.view, "--maildir", md, "--listen", "127.0.0.1:%d" % self.port, "--password-file", pw,
               "--zone", os.path.join(data, "viewer.zone"), "--protect", "bank.example",
               "--operator-domains", os.path.join(data, "operator-domains"), "--authserv-id", AUTHSERV,
               "--now", NOW]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        up = self.proc.poll() is None
        if not self.c.check("the viewer starts and listens on %d" % self.port, up, self.viewer_log()):
            return False
        opts = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1000", "--lang=en-US",
                  "--disable-features=IsolateSandboxedIframes",
                  # no name resolves: a request that escapes cannot leave the machine (it is still logged)
                  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.drv = webdriver.Chrome(service=Service(self.a.chromedriver), options=opts)
        self.drv.set_page_load_timeout(20)
        print("Chromium", self.drv.capabilities.get("browserVersion", "?"))
        return True

    def viewer_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:]

    def stop(self):
        if self.drv:
            self.drv.quit()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.tracker:
            self.tracker.shutdown()
            self.tracker.server_close()
        shutil.rmtree(self.work, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------
    def shot(self, name):
        if not self.a.screenshots:
            return
        os.makedirs(self.a.screenshots, exist_ok=True)
        path = os.path.join(self.a.screenshots, name + ".png")
        # the whole page (up to 2400 px), not just the window
        size = self.drv.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": max(int(size["width"]), 1024), "scale": 1,
                "height": min(max(int(size["height"]), 600), 2400)}
        png = self.drv.execute_cdp_cmd("Page.captureScreenshot",
                                       {"format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        self.shots.append(path)

    def wait_for(self, cond, timeout=5.0):
        """Until cond() is true (page loads after a click), at most timeout seconds."""
        try:
            WebDriverWait(self.drv, timeout, poll_frequency=0.05).until(lambda d: cond())
            return True
        except Exception:
            return False

    def css(self, sel, root=None):
        return (root or self.drv).find_elements(By.CSS_SELECTOR, sel)

    def text(self, sel):
        e = self.css(sel)
        return e[0].text if e else None

    def no_alert(self):
        try:
            a = self.drv.switch_to.alert
            t = a.text
            a.dismiss()
            return False, t
        except NoAlertPresentException:
            return True, ""

    def requests(self):
        """URLs Chromium asked for since the last call (its own performance log)."""
        urls = []
        for e in self.drv.get_log("performance"):
            m = json.loads(e["message"])["message"]
            if m.get("method") == "Network.requestWillBeSent":
                urls.append(m["params"]["request"]["url"])
        return urls

    def foreign(self, urls):
        return [u for u in urls if not (u == self.base or u.startswith(self.base + "/") or u.startswith("data:"))]

    def http(self, method, path, body=None, cookie=True, headers=None):
        """A request outside the browser (status, headers, body), with the browser's session cookie."""
        h = dict(headers or {})
        if cookie:
            ck = self.drv.get_cookie("sg_session")
            if ck:
                h["Cookie"] = "sg_session=" + ck["value"]
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def page_csrf(self):
        """The session's form token on the current page (every page's logout form has it)."""
        t = self.css("input[name=csrf]")
        return t[0].get_attribute("value") if t else ""

    def get(self, path, what):
        """Navigate; a session lost on the way is a failure, then the run logs in again and goes on."""
        self.drv.get(self.base + path)
        if self.drv.current_url.startswith(self.base + "/login"):
            self.c.check("the session is still valid when opening %s" % what, False, self.drv.current_url)
            self.relogin()
            self.drv.get(self.base + path)

    def relogin(self):
        self.drv.delete_all_cookies()
        self.drv.get(self.base + "/login")
        self.css("input[name=user]")[0].send_keys("reader")
        self.css("input[name=password]")[0].send_keys(PASSWORD)
        self.css("form#login button[type=submit]")[0].click()
        self.logins += 1
        self.wait_for(lambda: self.css("table#messages"))

    def open_message(self, f):
        self.get("/m/" + f["id"], "message " + f["name"])
        time.sleep(0.3)  # the body iframe

    def body_frame(self):
        fr = self.css("iframe#body")
        if not fr:
            return False
        self.drv.switch_to.frame(fr[0])
        return True

    # --- the checks ------------------------------------------------------------------------
    def login(self):
        c = self.c
        self.drv.get(self.base + "/")
        c.check("no session: / leads to the login page", self.drv.current_url.startswith(self.base + "/login"),
                self.drv.current_url)
        c.check("login form with user, password, csrf and submit",
                len(self.css("form#login input[name=user]")) == 1 and
                len(self.css("form#login input[name=password]")) == 1 and
                len(self.css("form#login input[name=csrf][type=hidden]")) == 1 and
                len(self.css("form#login button[type=submit]")) == 1)
        self.shot("login")
        self.css("input[name=user]")[0].send_keys("reader")
        self.css("input[name=password]")[0].send_keys("wrong password")
        self.css("form#login button[type=submit]")[0].click()
        self.wait_for(lambda: self.css("#login-error") or self.css("table#messages"))
        c.check("a wrong password is refused (#login-error)", len(self.css("#login-error")) == 1 and
                not self.css("table#messages"), self.drv.page_source[:300])
        if not self.css("form#login"):
            self.drv.get(self.base + "/login")
        self.css("input[name=user]")[0].clear()
        self.css("input[name=user]")[0].send_keys("reader")
        self.css("input[name=password]")[0].clear()
        self.css("input[name=password]")[0].send_keys(PASSWORD)
        form = self.css("form#login")[0]
        self.css("form#login button[type=submit]")[0].click()
        self.logins += 1
        # the wrong password's page has a #login-error too: wait for the
        # answer to this submit to replace it (seen once under a full
        # suite's load: the old page's error was taken for this answer)
        self.wait_for(lambda: EC.staleness_of(form)(self.drv), timeout=10.0)
        self.wait_for(lambda: self.css("table#messages") or self.css("#login-error"))
        ok = c.check("login leads to the list", self.drv.current_url.rstrip("/") == self.base and
                     len(self.css("table#messages")) == 1, self.drv.current_url)
        ck = self.drv.get_cookie("sg_session") or {}
        c.check("session cookie sg_session: HttpOnly, SameSite=Strict, Path=/",
                ck.get("httpOnly") is True and ck.get("sameSite") == "Strict" and ck.get("path") == "/", ck)
        return ok

    def settled(self):
        """The viewer verifies in the background: wait (at most 20 s) until the API says none is pending."""
        for _ in range(80):
            st, _, body = self.http("GET", "/api/messages")
            try:
                if st == 200 and not any(m.get("checking") for m in json.loads(body)["messages"]):
                    return True
            except (ValueError, KeyError, TypeError):
                pass
            time.sleep(0.25)
        return False

    def message_list(self):
        c = self.c
        c.check("the viewer has verified every message within 20 s", self.settled())
        self.get("/", "the list")
        rows = self.css("table#messages tr.msg")
        c.check("the list has one row per fixture", len(rows) == len(self.fixtures),
                "%d rows, %d fixtures" % (len(rows), len(self.fixtures)))
        info = [(r.get_attribute("data-id"), r.get_attribute("data-headline"), r.text, r) for r in rows]
        for f in self.fixtures:
            hit = [i for i in info if f["subject"] in i[2]]
            if not c.check("list: %s is listed once" % f["name"], len(hit) == 1, [i[2] for i in info]):
                f["id"] = None
                continue
            rid, hl, txt, row = hit[0]
            f["id"] = rid
            c.check("list: %s has data-headline=%s" % (f["name"], f["headline"]), hl == f["headline"], hl)
            words = self.css("span.headline", row)
            c.check("list: %s says '%s' in words" % (f["name"], TITLES[f["headline"]]),
                    bool(words) and words[0].text.strip() == TITLES[f["headline"]], words[0].text if words else None)
            c.check("list: %s has a labelled icon" % f["name"],
                    bool(self.css("svg[aria-label], [role=img][aria-label], img[alt]:not([alt=''])", row)))
            c.check("list: %s opens at /m/ID" % f["name"],
                    any((a.get_attribute("href") or "").endswith("/m/" + rid) for a in self.css("a.open", row)))
            kinds = {e.get_attribute("data-kind") for e in self.css("span.warning[data-kind]", row)}
            for w in f["warnings"]:
                c.check("list: %s shows a %s badge" % (f["name"], w), w in kinds, kinds)
            for w in f["not_warnings"]:
                c.check("list: %s shows no %s badge" % (f["name"], w), w not in kinds, kinds)
        order = [r.get_attribute("data-id") for r in rows]
        want = [f.get("id") for f in reversed(self.fixtures)]  # the manifest is in date order, oldest first
        c.check("the list is newest first", order == want, (order, want))
        ids = [f["id"] for f in self.fixtures if f.get("id")]
        c.check("message ids are unique and URL-safe", len(set(ids)) == len(ids) and
                all(i and all(ch.isalnum() or ch in "-_" for ch in i) for i in ids), ids)
        self.shot("list")

    def message_pages(self):
        c = self.c
        shot_headline = set()
        for f in self.fixtures:
            if not f.get("id"):
                continue
            self.open_message(f)
            n = f["name"]
            hl = self.css("#headline")
            if not c.check("%s: #headline" % n, bool(hl)):
                continue
            c.check("%s: #headline data-headline=%s" % (n, f["headline"]),
                    hl[0].get_attribute("data-headline") == f["headline"], hl[0].get_attribute("data-headline"))
            htext = hl[0].text
            c.check("%s: #headline says %s" % (n, TITLES[f["headline"]]), TITLES[f["headline"]] in htext, htext)
            if f["headline"] == "verified":
                c.check("%s: #headline does not say Unverified or Forged" % n,
                        "Unverified" not in htext and "Forged" not in htext, htext)
            c.check("%s: #headline has a labelled icon" % n,
                    bool(self.css("#headline svg[aria-label], #headline [role=img][aria-label]")))
            if f["third_party"] != "-":
                c.check("%s: the headline names %s" % (n, f["third_party"]),
                        f["third_party"] in htext or f["third_party"] in (self.text("#identity") or ""), htext)
            kinds = [e.get_attribute("data-kind") for e in self.css("ul#warnings > li.warning[data-kind]")]
            for w in f["warnings"]:
                c.check("%s: warning %s" % (n, w), w in kinds, kinds)
            for w in f["not_warnings"]:
                c.check("%s: no %s warning" % (n, w), w not in kinds, kinds)
            vb = (self.text("#verified-by") or "").lower()
            if n == "forged":  # our MTA's A-R on top
                c.check("%s: #verified-by says the mail server checked it" % n, "mail server" in vb, vb)
            else:
                c.check("%s: #verified-by says the viewer verified it now" % n, "viewer" in vb, vb)
            ident = self.css("#identity")
            c.check("%s: #identity with the registrable domain in strong.registrable" % n,
                    bool(ident) and bool(self.css("#identity strong.registrable")))
            fr = self.css("iframe#body")
            if fr:
                # a body may draw a fake verdict (adv17 F5): the real one
                # stays on screen when the body is scrolled to, and the
                # body is captioned as the sender's
                pos = self.drv.execute_script(
                    "arguments[0].scrollIntoView({block:'end'});"
                    "var r = document.getElementById('headline').getBoundingClientRect();"
                    "return [r.top, r.bottom, window.innerHeight, window.scrollY];", fr[0])
                c.check("%s: #headline on screen with the body scrolled into view" % n,
                        pos[0] >= 0 and pos[1] <= pos[2], pos)
                cap = self.text("#body-caption") or ""
                c.check("%s: the body is captioned as the sender's" % n, "proves nothing" in cap, cap)
                self.drv.execute_script("window.scrollTo(0, 0)")
            if c.check("%s: iframe#body" % n, bool(fr)):
                sb = (fr[0].get_attribute("sandbox") or "").split()
                c.check("%s: body sandbox has no allow-scripts/allow-same-origin and nothing beyond the contract" % n,
                        fr[0].get_attribute("sandbox") is not None and set(sb) <= SANDBOX_ALLOWED, sb)
                c.check("%s: body src is /m/ID/body" % n,
                        (fr[0].get_attribute("src") or "").endswith("/m/%s/body" % f["id"]), fr[0].get_attribute("src"))
            li = self.css("form#load-images")
            if n == "remote-image":
                c.check("%s: verified mail with a remote image offers 'load images'" % n, len(li) == 1)
            elif f["headline"] != "verified":
                c.check("%s: no 'load images' form (not verified)" % n, not li)
            if f["headline"] not in shot_headline and n in ("genuine", "third-party", "unverified", "forged"):
                shot_headline.add(f["headline"])
                self.shot("headline-" + f["headline"])
            if n == "lookalike":
                self.shot("warning-lookalike")
            if n == "lookalike-idn":
                self.shot("warning-idn")
            if n == "display-name":
                self.shot("warning-display-name")
            if n == "attachment":
                self.attachment(f)

    def attachment(self, f):
        c = self.c
        items = [li for li in self.css("ul#attachments > li") if "invoice.pdf.exe" in li.text]
        if not c.check("attachment: invoice.pdf.exe is listed", len(items) == 1,
                       [li.text for li in self.css("ul#attachments > li")]):
            return
        li = items[0]
        risky = bool(self.css(".risk, .warning, [data-kind], [data-risk]", li))
        c.check("attachment: an executable warning", risky, li.text)
        links = [a.get_attribute("href") for a in self.css("a[href]", li)]
        parts = [u for u in links if u and ("/m/%s/part/" % f["id"]) in u]
        if c.check("attachment: a download link /m/ID/part/N", len(parts) >= 1, links):
            st, hd, body = self.http("GET", urllib.parse.urlparse(parts[0]).path)
            c.check("attachment: downloaded as an attachment, never rendered",
                    st == 200 and hd.get("content-disposition", "").lower().startswith("attachment") and
                    body.startswith(b"MZ"), (st, hd.get("content-disposition"), body[:20]))
        c.check("attachment: nothing of it is shown in the body", not self.css("iframe#body[src*='part']"))
        self.shot("attachment")

    def inert_links(self):
        """Unverified and forged mail: no href in the body; clicking the link text goes nowhere."""
        c = self.c
        for f in self.fixtures:
            if f["links"] != "inert" or not f.get("id"):
                continue
            n = f["name"]
            self.open_message(f)
            url = self.drv.current_url
            handles = len(self.drv.window_handles)
            if not self.body_frame():
                c.check("%s: body frame" % n, False)
                continue
            hrefs = [e.get_attribute("outerHTML")[:120] for e in self.css("[href], [src^='http'], [action]")]
            c.check("%s: no element with an href in the body" % n, not hrefs, hrefs)
            # the link text as the reader sees it: the element that holds the target's host
            target = self.drv.execute_script(
                "var w=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT);var t;"
                "while((t=w.nextNode())){if(/https?:\\/\\//.test(t.data)) return t.parentElement;}return null;")
            if c.check("%s: the link's target is shown as text" % n, target is not None):
                try:
                    target.click()
                except UnexpectedAlertPresentException:
                    c.check("%s: click raised a dialog" % n, False)
                time.sleep(0.5)
            self.drv.switch_to.default_content()
            c.check("%s: clicking the link does not navigate" % n,
                    self.drv.current_url == url and len(self.drv.window_handles) == handles,
                    (self.drv.current_url, len(self.drv.window_handles)))
            # the interstitial for it (reached from the API's link list, as a reader cannot click)
            if n in ("forged", "unverified", "lookalike-idn"):
                self.confirm_interstitial(f)

    def confirm_interstitial(self, f):
        c = self.c
        n = f["name"]
        st, _, body = self.http("GET", "/api/messages/" + f["id"])
        try:
            links = json.loads(body)["links"]
        except (ValueError, KeyError):
            c.check("%s: /api/messages/ID lists its links" % n, False, (st, body[:200]))
            return
        c.check("%s: the API says its links are inert" % n, links and all(lk.get("inert") is True for lk in links),
                links)
        self.get("/link/%s/0" % f["id"], "the interstitial of " + n)
        target = links[0]["target"]
        host = urllib.parse.urlsplit(target).hostname
        c.check("%s: interstitial #link-target is the real target" % n, (self.text("#link-target") or "") == target,
                (self.text("#link-target"), target))
        c.check("%s: interstitial #link-host names %s" % (n, host), host in (self.text("#link-host") or ""),
                self.text("#link-host"))
        reg = self.css("#link-host strong.registrable")
        c.check("%s: the registrable domain is emphasised" % n, bool(reg) and host.endswith(reg[0].text.strip()),
                reg[0].text if reg else None)
        c.check("%s: #link-verdict data-headline=%s" % (n, f["headline"]),
                bool(self.css("#link-verdict[data-headline='%s']" % f["headline"])))
        c.check("%s: no direct continue link" % n, not self.css("a#link-continue"))
        form = self.css("form#link-confirm")
        c.check("%s: a confirmation form with a required checkbox" % n,
                len(form) == 1 and bool(self.css("form#link-confirm input#confirm[name=confirm][required]")) and
                bool(self.css("form#link-confirm button#link-go")))
        if n == "lookalike-idn":
            c.check("lookalike-idn: the interstitial shows the Unicode form b\u0430nk.example",
                    "b\u0430nk.example" in (self.text("#link-unicode") or ""), self.text("#link-unicode"))
            c.check("lookalike-idn: and the punycode form xn--bnk-6cd.example",
                    "xn--bnk-6cd.example" in (self.text("#link-punycode") or ""), self.text("#link-punycode"))
            kinds = [e.get_attribute("data-kind") for e in self.css("ul#link-warnings > li[data-kind]")]
            c.check("lookalike-idn: the link's lookalike warning against bank.example",
                    "lookalike" in kinds and "bank.example" in (self.text("ul#link-warnings") or ""), kinds)
            self.shot("interstitial-lookalike")
        if n == "forged":
            lt = self.text("#link-text") or ""
            c.check("forged: #link-text shows the text naming another host", "online.bank.example" in lt, lt)
            kinds = [e.get_attribute("data-kind") for e in self.css("ul#link-warnings > li[data-kind]")]
            c.check("forged: the text/target mismatch is a link warning", bool(kinds) or
                    bool(self.css("#link-text .warning, #link-text [data-kind]")), kinds)
            self.shot("interstitial-confirm")
            # unconfirmed: the button with the box left empty does not leave (required), and /go without
            # confirm=on is sent back; confirmed: 303 to the target (checked outside the browser: no network)
            self.css("button#link-go")[0].click()
            time.sleep(0.3)
            c.check("forged: 'go' without the box ticked stays on the viewer",
                    self.drv.current_url.startswith(self.base + "/link/%s/0" % f["id"]), self.drv.current_url)
        st, hd, _ = self.http("GET", "/link/%s/0/go" % f["id"])
        back = urllib.parse.urlsplit(hd.get("location", ""))
        c.check("%s: /go without confirm leads back to the interstitial" % n,
                st == 303 and back.path == "/link/%s/0" % f["id"] and back.netloc in ("", "127.0.0.1:%d" % self.port),
                (st, hd.get("location")))
        st, hd, _ = self.http("GET", "/link/%s/0/go?confirm=on" % f["id"])
        back = urllib.parse.urlsplit(hd.get("location", ""))
        c.check("%s: a GET of /go?confirm=on leads back to the interstitial" % n,
                st == 303 and back.path == "/link/%s/0" % f["id"], (st, hd.get("location")))
        tok = self.css("form#link-confirm input[name=csrf]")
        tok = tok[0].get_attribute("value") if tok else ""
        st, hd, _ = self.http("POST", "/link/%s/0/go" % f["id"], body={"confirm": "on", "csrf": tok})
        c.check("%s: the confirmation (POST, the session's token) answers 303 to the target" % n,
                st == 303 and hd.get("location") == target, (st, hd.get("location")))

    def live_links(self):
        """Verified mail: a click in the body opens the interstitial naming the real host."""
        c = self.c
        for name, host, reg in (("genuine", "online.bank.example", "bank.example"),
                                ("third-party", "news-sender.example", "news-sender.example")):
            f = next((x for x in self.fixtures if x["name"] == name and x.get("id")), None)
            if not f:
                continue
            self.open_message(f)
            if not self.body_frame():
                c.check("%s: body frame" % name, False)
                continue
            anchors = self.css("a[href]")
            hrefs = [a.get_attribute("href") for a in anchors]
            c.check("%s: every link in the body goes through /link/ID/N" % name,
                    bool(hrefs) and all(h.startswith(self.base + "/link/%s/" % f["id"]) for h in hrefs), hrefs)
            c.check("%s: links target the top window" % name,
                    all(a.get_attribute("target") == "_top" for a in anchors))
            if not anchors:
                self.drv.switch_to.default_content()
                continue
            first = anchors[0]
            page = self.drv.current_url
            first.click()
            self.drv.switch_to.default_content()
            self.wait_for(lambda: self.drv.current_url != page and
                          self.drv.execute_script("return document.readyState") == "complete")
            ok = c.check("%s: clicking the link opens the interstitial" % name,
                         urllib.parse.urlsplit(self.drv.current_url).path == urllib.parse.urlsplit(hrefs[0]).path and
                         self.drv.current_url.startswith(self.base + "/") and bool(self.css("#link-host")),
                         (self.drv.current_url, hrefs[0]))
            if not ok:  # the interstitial itself is still checked, reached from the viewer's own page
                self.drv.get(self.base + "/")
                lost = self.drv.current_url.startswith(self.base + "/login")
                c.check("%s: a click on a link keeps the reader logged in" % name, not lost,
                        "the click's request came without the session cookie; the reader was logged out")
                if lost:
                    self.relogin()
                self.get(urllib.parse.urlsplit(hrefs[0]).path, "the interstitial of " + name)
            c.check("%s: #link-host names the real host %s" % (name, host), host in (self.text("#link-host") or ""),
                    self.text("#link-host"))
            r = self.css("#link-host strong.registrable")
            c.check("%s: registrable domain %s emphasised" % (name, reg), bool(r) and r[0].text.strip() == reg,
                    r[0].text if r else None)
            tgt = self.text("#link-target") or ""
            c.check("%s: #link-target is the full URL" % name, tgt.startswith("https://" + host + "/"), tgt)
            c.check("%s: #link-verdict data-headline=%s" % (name, f["headline"]),
                    bool(self.css("#link-verdict[data-headline='%s']" % f["headline"])))
            if f["headline"] == "verified":
                cont = self.css("a#link-continue")
                c.check("%s: a#link-continue to the target, rel=noopener noreferrer" % name,
                        len(cont) == 1 and cont[0].get_attribute("href") == tgt and
                        {"noopener", "noreferrer"} <= set((cont[0].get_attribute("rel") or "").split()),
                        cont[0].get_attribute("outerHTML") if cont else None)
                c.check("%s: no confirmation step for verified mail" % name, not self.css("form#link-confirm"))
                self.shot("interstitial")

    def xss(self):
        c = self.c
        f = next((x for x in self.fixtures if x["name"] == "xss" and x.get("id")), None)
        if not c.check("xss: listed", f is not None):
            return
        self.requests()  # only this message's requests from here
        try:
            self.open_message(f)
            time.sleep(1.5)  # onload/onerror/onfocus/animation handlers, meta refresh
            ok, t = self.no_alert()
        except UnexpectedAlertPresentException as e:
            ok, t = False, str(e)
        c.check("xss: no dialog in the message page", ok, t)
        c.check("xss: still on the message (no refresh/navigation)",
                self.drv.current_url == self.base + "/m/" + f["id"], self.drv.current_url)
        self.shot("xss")
        if self.body_frame():
            self.xss_dom("in the sandboxed frame")
            self.drv.switch_to.default_content()
        else:
            c.check("xss: body frame", False)
        # the body alone as a page, with only its CSP between it and the browser
        try:
            self.get("/m/%s/body" % f["id"], "the xss body")
            time.sleep(1.0)
            ok, t = self.no_alert()
        except UnexpectedAlertPresentException as e:
            ok, t = False, str(e)
        c.check("xss: no dialog with the body opened as a page", ok, t)
        self.xss_dom("opened as a page")
        urls = self.requests()
        c.check("xss: Chromium's log saw the message's requests", any("/m/%s/body" % f["id"] in u for u in urls),
                urls[:5])
        bad = self.foreign(urls)
        c.check("xss: no request outside the viewer's origin (Chromium's performance log)", not bad, bad[:10])
        # a javascript: link is listed, but its interstitial offers no way to go
        st, _, body = self.http("GET", "/api/messages/" + f["id"])
        try:
            links = json.loads(body)["links"]
        except (ValueError, KeyError):
            links = []
        js = [i for i, lk in enumerate(links) if (lk.get("target") or "").lower().startswith("javascript:")]
        if c.check("xss: the API lists its javascript: links", bool(js), [lk.get("target") for lk in links]):
            self.get("/link/%s/%d" % (f["id"], js[0]), "the interstitial of a javascript: link")
            c.check("xss: a javascript: link's interstitial has no continue link and no confirmation",
                    bool(self.css("#link-target")) and not self.css("a#link-continue") and
                    not self.css("form#link-confirm"), self.drv.current_url)
            st, hd, _ = self.http("POST", "/link/%s/%d/go" % (f["id"], js[0]),
                                  body={"confirm": "on", "csrf": self.page_csrf()})
            c.check("xss: a confirmed /go never leads to javascript:",
                    not hd.get("location", "").lower().startswith("javascript:"), (st, hd.get("location")))
            ok, t = self.no_alert()
            c.check("xss: no dialog on the javascript: link's interstitial", ok, t)
        st, hd, _ = self.http("GET", "/m/%s/body" % f["id"])
        csp = hd.get("content-security-policy", "")
        c.check("xss: body CSP default-src 'none', no script-src, frame-ancestors 'self'",
                "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'self'" in csp, csp)
        c.check("xss: body X-Content-Type-Options nosniff", hd.get("x-content-type-options") == "nosniff", hd)

    def xss_dom(self, where):
        c = self.c
        d = self.drv
        markers = d.execute_script(
            "var out=[];document.querySelectorAll('*').forEach(function(e){"
            "if((e.id||'').indexOf('sgxss')==0||e.tagName.toLowerCase().indexOf('sgxss')==0||"
            "e.hasAttribute('data-sgxss'))out.push(e.tagName+'#'+e.id);});"
            "if(document.title=='sgxss')out.push('title');return out;")
        c.check("xss %s: no script-created DOM (payload markers absent)" % where, not markers, markers)
        bad = d.execute_script(
            "var out=[];document.querySelectorAll('*').forEach(function(e){var t=e.tagName.toLowerCase();"
            "if(['script','iframe','object','embed','form','base','link','frame','input','button'].indexOf(t)>=0||"
            "t=='meta'&&e.hasAttribute('http-equiv'))out.push(t);for(var i=0;i<e.attributes.length;i++){var a=e.attributes[i];"
            "if(/^on/i.test(a.name)||/^\\s*(javascript|vbscript|data):/i.test(a.value)&&a.name!='src')"
            "out.push(t+'['+a.name+']');}});return out;")
        c.check("xss %s: no script, frame, form, meta, base, event handler or script URL survives" % where, not bad,
                bad)
        hrefs = d.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('[href],[src],[action],[srcset],[poster],"
            "[background]'),function(e){return e.getAttribute('href')||e.getAttribute('src')||"
            "e.getAttribute('action')||e.getAttribute('srcset')||e.getAttribute('poster')||"
            "e.getAttribute('background');});")
        outside = [h for h in hrefs if h and not (h.startswith("/") and not h.startswith("//")) and
                   not h.startswith(self.base + "/") and not h.startswith("data:image/")]
        c.check("xss %s: every remaining URL is the viewer's own" % where, not outside, outside)

    def images_and_csrf(self):
        c = self.c
        c.check("no remote image or payload was fetched (counting server: %d hits)" % len(self.tracker.hits),
                not self.tracker.hits, self.tracker.hits)
        ri = next((x for x in self.fixtures if x["name"] == "remote-image" and x.get("id")), None)
        dn = next((x for x in self.fixtures if x["name"] == "display-name" and x.get("id")), None)
        if not ri or not dn:
            return
        self.open_message(ri)
        tok = self.css("form#load-images input[name=csrf]")
        if not c.check("remote-image: the load-images form carries a CSRF token", bool(tok)):
            return
        csrf = tok[0].get_attribute("value")
        st, _, _ = self.http("POST", "/m/%s/images" % ri["id"], body={})
        c.check("POST /m/ID/images without a CSRF token: 403", st == 403, st)
        st, _, _ = self.http("POST", "/m/%s/images" % ri["id"], body={"csrf": csrf + "x"})
        c.check("POST /m/ID/images with a wrong CSRF token: 403", st == 403, st)
        st, _, _ = self.http("POST", "/m/%s/images" % dn["id"], body={"csrf": csrf})
        c.check("POST images for unverified mail (display-name): 403 even with the token", st == 403, st)
        st, _, _ = self.http("POST", "/m/%s/images" % ri["id"], body={"csrf": csrf}, cookie=False)
        c.check("POST images without a session is refused", st in (401, 403) or st == 303, st)
        c.check("still no remote image fetched", not self.tracker.hits, self.tracker.hits)
        self.shot("load-images")
        self.requests()
        self.css("form#load-images button, form#load-images [type=submit]")[0].click()
        time.sleep(1.0)
        self.get("/m/" + ri["id"], "remote-image after loading images")
        time.sleep(1.0)
        c.check("once asked for, the verified message's image IS fetched (the counter works)",
                "/track.png" in self.tracker.hits, self.tracker.hits)
        seen = self.foreign(self.requests())
        c.check("and Chromium's log shows that request as outside the origin (the XSS check's detector works)",
                "http://127.0.0.1:%d/track.png" % TRACK_PORT in seen, seen)
        self.open_message(dn)
        time.sleep(0.5)
        c.check("the unverified message's image is still not fetched", "/spoof.png" not in self.tracker.hits,
                self.tracker.hits)

    def headers_and_api(self):
        c = self.c
        st, hd, _ = self.http("GET", "/")
        csp = hd.get("content-security-policy", "")
        c.check("page CSP has script-src 'none'", st == 200 and "script-src 'none'" in csp, csp)
        c.check("page X-Frame-Options: DENY", hd.get("x-frame-options", "").upper() == "DENY", hd)
        c.check("page Referrer-Policy: no-referrer", hd.get("referrer-policy") == "no-referrer", hd)
        st, _, _ = self.http("GET", "/api/messages", cookie=False)
        c.check("API without a session: 401", st == 401, st)
        st, _, body = self.http("GET", "/api/messages")
        try:
            msgs = {m["subject"]: m for m in json.loads(body)["messages"]}
        except (ValueError, KeyError, TypeError):
            c.check("API /api/messages is JSON", False, body[:200])
            return
        for f in self.fixtures:
            m = msgs.get(f["subject"])
            c.check("API: %s headline %s, id as in the page" % (f["name"], f["headline"]),
                    m is not None and m.get("headline") == f["headline"] and m.get("id") == f.get("id"),
                    m and (m.get("headline"), m.get("id"), f.get("id")))
        tp = next((x for x in self.fixtures if x["name"] == "third-party" and x.get("id")), None)
        if tp:
            st, _, body = self.http("GET", "/api/messages/" + tp["id"])
            try:
                d = json.loads(body)
            except ValueError:
                d = {}
            c.check("API: third-party names lists.example", d.get("headline") == "verified_third_party" and
                    d.get("third_party") == "lists.example" and d.get("id") == tp["id"], body[:300])

    def deliver(self, name, data):
        """A message into the Maildir as an MDA puts it: written in tmp/, renamed into new/."""
        tmp = os.path.join(self.work, "maildir", "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.work, "maildir", "new", name))

    def new_mail(self):
        """New mail in new/ appears on the next list request, without a restart."""
        c = self.c
        src = os.path.join(self.work, "maildir", "cur")
        first = sorted(os.listdir(src))[0]
        with open(os.path.join(src, first), "rb") as f:
            data = f.read().replace(b"Subject: Your December statement is ready",
                                    b"Subject: Arrived while the viewer ran")
        self.deliver("1796250000.M99P1.late", data)
        self.get("/", "the list with new mail")
        rows = [r for r in self.css("table#messages tr.msg") if "Arrived while the viewer ran" in r.text]
        c.check("new mail appears without a restart", len(rows) == 1)
        # its signed Subject changed: it must not be verified
        c.check("the changed copy of genuine is not verified",
                bool(rows) and rows[0].get_attribute("data-headline") not in ("verified", "verified_third_party"),
                rows[0].get_attribute("data-headline") if rows else None)

    def overlay(self):
        """Unverified mail whose later boxes spill over an inert link's real
        target (adv17 F3 and its review): the target is what is on top."""
        c = self.c
        tricks = [
            '<span style="display:inline-block;margin-left:-17em;width:17em;background-color:#fff">'
            '[https://bank.example/login]</span>',
            '<span style="display:inline-block;width:0;direction:rtl;white-space:nowrap;'
            'background-color:#fff">[https://bank.example/login]&nbsp;&nbsp;&nbsp;&nbsp;</span>',
            '<br><span style="line-height:0;font-size:60px;background-color:#fff">'
            '&#9608;&#9608;&#9608;&#9608;&#9608;&#9608;&#9608;&#9608;&#9608;&#9608;</span>',
        ]
        body = "".join('<p><a href="https://evil.example/steal%d">Sign in to bank.example</a>%s</p>'
                       % (i, t) for i, t in enumerate(tricks))
        msg = ("From: alerts@nodmarc.example\r\nTo: you@home.example\r\nSubject: Overlay test\r\n"
               "Date: Thu, 03 Dec 2026 09:00:00 +0000\r\nMessage-ID: <overlay@nodmarc.example>\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
               "<html><body>%s</body></html>\r\n" % body).encode()
        self.deliver("1796250100.M98P1.overlay", msg)
        self.get("/", "the list with the overlay message")
        rows = [r for r in self.css("table#messages tr.msg") if "Overlay test" in r.text]
        if not c.check("overlay: the message is listed", len(rows) == 1):
            return
        self.get("/m/" + rows[0].get_attribute("data-id"), "the overlay message")
        time.sleep(0.3)
        if not self.body_frame():
            c.check("overlay: body frame", False)
            return
        on_top = self.drv.execute_script(
            "return Array.from(document.querySelectorAll('span.sg-link-target')).map(function (t) {"
            "  var r = t.getBoundingClientRect(), out = [];"
            "  [0.2, 0.5, 0.8].forEach(function (x) {"
            "    var e = document.elementFromPoint(r.left + r.width * x, r.top + r.height / 2);"
            "    out.push(!!e && (e === t || t.contains(e)));"
            "  });"
            "  return [t.textContent, out];"
            "});")
        self.drv.switch_to.default_content()
        c.check("overlay: three inert targets", len(on_top or []) == 3, on_top)
        for text, hits in on_top or []:
            c.check("overlay: %s is on top where it is drawn" % text.strip(), all(hits), hits)
        self.shot("overlay")

    def logout(self):
        c = self.c
        self.get("/", "the list before logout")
        st, _, _ = self.http("POST", "/logout", body={})
        c.check("POST /logout without a CSRF token: 403", st == 403, st)
        forms = self.css("form[action='/logout']")
        if not c.check("a logout form on the list", len(forms) == 1):
            return
        self.css("form[action='/logout'] button, form[action='/logout'] [type=submit]")[0].click()
        self.wait_for(lambda: self.drv.current_url.rstrip("/") != self.base or not self.css("table#messages"))
        self.drv.get(self.base + "/")
        c.check("after logout the list needs a login again", self.drv.current_url.startswith(self.base + "/login"),
                self.drv.current_url)

    def run(self):
        if not self.start():
            return
        if not self.login():
            return
        self.message_list()
        self.message_pages()
        self.inert_links()
        self.live_links()
        self.xss()
        self.headers_and_api()
        self.images_and_csrf()
        self.new_mail()
        self.overlay()
        self.logout()
        c = self.c
        c.check("the viewer is still running", self.proc.poll() is None, self.viewer_log())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--view", required=True, help="the spoofguard-view binary")
    ap.add_argument("--src", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--screenshots", help="save a PNG of each state here")
    ap.add_argument("--port", type=int, default=0, help="the viewer's port (default: a free one)")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    a = ap.parse_args()
    c = Checks()
    for path, pkg in ((a.chromedriver, "chromium-driver"), ("/usr/bin/chromium", "chromium"), (a.view, None)):
        if not os.access(path, os.X_OK):
            c.check("%s is installed" % path, False, "missing: " + (pkg and "apt-get install " + pkg or "build it"))
    r = Run(a, c)
    if not c.failed:
        try:
            r.run()
        except Exception as e:  # a crash of the harness is a failure with its reason, not a traceback only
            import traceback
            traceback.print_exc()
            c.check("the browser run completed", False, "%s: %s" % (type(e).__name__, e))
        finally:
            r.stop()
    print("screenshots: %d%s" % (len(r.shots), (" in " + a.screenshots) if a.screenshots else ""))
    if c.known:
        print("known gaps (KNOWN above, see KNOWN_GAPS): %d" % c.known)
    print("viewer_browser: %d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 and c.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
