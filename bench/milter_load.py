#!/usr/bin/python3
"""SMTP load generator for the milter throughput benchmark (stdlib + dkimpy).

Three subcommands, driven by bench/milter_load.sh inside tests/e2e/with-env.sh:

  corpus --key PEM --out DIR [--templates K] [--domain DOMAIN]
      Writes K message templates of ~2 KiB (DIR/NNN.eml) and DIR/index.json
      (class, envelope sender of each). Classes, by share of the messages:
        signed     70 %  From/MAIL FROM DOMAIN, DKIM-signed by DOMAIN (r1,
                         relaxed/relaxed): SPF, DKIM and DMARC pass
        spf        15 %  the same, unsigned: SPF pass, aligned, DMARC pass
        forged     10 %  From DOMAIN (p=reject), MAIL FROM attacker.test
                         (SPF fail from 127.0.0.20), signature broken by a body
                         change after signing: DMARC fail -> reject
        protected   5 %  From ceo@ourco.test (a protected domain, p=none),
                         MAIL FROM attacker.test, unsigned
      Signing once here (dkimpy, ~7 ms a message) keeps it out of the timing.

  send --corpus DIR --tag TAG --messages N --clients C --expect KIND
       --maildir DIR [--warmup W] [--pids P,...] [--out FILE]
      W untimed warm-up messages, then N timed ones, each in its own SMTP
      session (an inbound MX sees one message per connection), from C
      threads at once, bound to --source (127.0.0.20). Each message gets a
      unique unsigned "X-Load-Id: TAG.SEQ" field on top. Records every final
      reply code. Then waits for every accepted message to appear in
      --maildir (new/ and cur/) and compares: lost (accepted, never
      delivered), unexpected (delivered, not accepted), duplicates. Milter
      CPU = CPU time of --pids over the timed window: the sum of their threads'
      /proc/PID/task/*/schedstat (ns) when no thread ended meanwhile, else
      utime+stime (/proc/PID/stat, 10 ms ticks).
      KIND is the expected outcome table: none | spoofguard | peers.
      Appends one JSON line to --out; exit 1 if anything was not as expected.

  report FILE...
      Medians over the rounds, the table, the ratios.
"""

import argparse
import json
import os
import random
import re
import smtplib
import socket
import statistics
import sys
import threading
import time

CLASSES = (("signed", 70), ("spf", 15), ("forged", 10), ("protected", 5))

# Expected final reply per setup kind and class. The peers (OpenDKIM +
# OpenDMARC with RejectFailures) reject what fails DMARC under p=reject;
# ourco.test publishes p=none, so only spoofguardd, which knows it as a
# protected domain, rejects the "protected" class.
EXPECT = {
    "none": {"signed": 250, "spf": 250, "forged": 250, "protected": 250},
    "spoofguard": {"signed": 250, "spf": 250, "forged": 550, "protected": 550},
    "peers": {"signed": 250, "spf": 250, "forged": 550, "protected": 250},
}

# What the Authentication-Results of delivered mail must say (milter setups).
EXPECT_AR = {
    "signed": ("dkim=pass", "spf=pass", "dmarc=pass"),
    "spf": ("spf=pass", "dmarc=pass"),
}

CLK_TCK = os.sysconf("SC_CLK_TCK")
WORDS = (
    "invoice shipment quarterly meeting agenda report review schedule update "
    "project budget proposal customer delivery contract signed attached please "
    "confirm regards thanks follow-up minutes draft final status issue ticket "
    "release notes deadline team office travel expense approval request summary"
).split()


# --------------------------------------------------------------------------
# corpus


def make_body(rng, target):
    lines, size = [], 0
    while size < target:
        n = rng.randint(6, 14)
        line = " ".join(rng.choice(WORDS) for _ in range(n))
        if rng.random() < 0.1:
            line = ""  # paragraph break
        lines.append(line)
        size += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def make_message(rng, i, cls, dom):
    user = "user%d" % rng.randint(1, 50)
    if cls == "protected":
        frm = "CEO <ceo@ourco.test>"
        mail_from = "billing@attacker.test"
    elif cls == "forged":
        frm = "Remote News <news@%s>" % dom
        mail_from = "bounce@attacker.test"
    else:
        frm = "%s <%s@%s>" % (user.capitalize(), user, dom)
        mail_from = "%s@%s" % (user, dom)
    t = 1796000000 + i * 37
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    hdr = (
        "Received: from workstation-%d.internal.DOM (workstation-%d.internal.DOM\r\n"
        " [10.1.%d.%d]) by mx.remote.test (Postfix) with ESMTPS id %08X\r\n"
        " for <bob@rcpt.test>; %s\r\n"
        "Received: by workstation-%d.internal.DOM (Postfix, from userid 1000)\r\n"
        " id %08X; %s\r\n"
        "Date: %s\r\n"
        "From: %s\r\n"
        "To: Bob <bob@rcpt.test>\r\n"
        "Cc: Carol <carol@rcpt.test>, Alice <alice@rcpt.test>\r\n"
        "Subject: %s %s #%d\r\n"
        "Message-ID: <%08x.%d@DOM>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        % (
            i, i, i % 250, (i * 7) % 250, rng.getrandbits(32), date,
            i, rng.getrandbits(32), date,
            date, frm, rng.choice(WORDS).capitalize(), rng.choice(WORDS), i,
            rng.getrandbits(32), i,
        )
    ).replace("DOM", dom)
    # ~2 KiB in all once signed (a DKIM-Signature is ~500 bytes)
    body = make_body(rng, 2048 - len(hdr) - (500 if cls in ("signed", "forged") else 0))
    return mail_from, (hdr + body).encode()


def cmd_corpus(a):
    import dkim  # Debian's python3-dkim: run with /usr/bin/python3

    key = open(a.key, "rb").read()
    rng = random.Random(20261129)
    os.makedirs(a.out, exist_ok=True)
    # classes spread evenly over the templates, in their shares
    seq = []
    for cls, share in CLASSES:
        seq += [cls] * max(1, round(a.templates * share / 100))
    seq = seq[: a.templates]
    rng.shuffle(seq)
    index = []
    for i, cls in enumerate(seq):
        mail_from, msg = make_message(rng, i, cls, a.domain)
        if cls in ("signed", "forged"):
            sig = dkim.sign(
                msg, b"r1", a.domain.encode(), key, canonicalize=(b"relaxed", b"relaxed")
            )
            msg = sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg
        if cls == "forged":
            msg = msg.replace(b"please", b"PLEASE", 1).replace(b"regards", b"REGARDS", 1)
        name = "%03d.eml" % i
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(msg)
        index.append({"file": name, "class": cls, "mail_from": mail_from, "size": len(msg)})
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f)
    sizes = [e["size"] for e in index]
    print(
        "corpus: %d templates, %d..%d bytes (mean %d)"
        % (len(index), min(sizes), max(sizes), sum(sizes) // len(sizes))
    )


# --------------------------------------------------------------------------
# send


def proc_cpu(pid):
    """utime+stime of PID (all its threads, dead ones included), seconds;
    None when PID is gone (a crashed milter)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_user_sys(pid):
    """(utime, stime) of PID in clock ticks: which side of the system-call
    line a milter's CPU is on (sampled at each tick, so only a long batch
    gives a share worth reading); None when unreadable."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2 :].split()
        return int(fields[11]), int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def proc_threads_ns(pid):
    """{tid: ns on CPU} from /proc/PID/task/*/schedstat (nanoseconds, where
    /proc/PID/stat counts 10 ms ticks: a few hundred messages of a fast
    milter are only a few ticks); None when unreadable."""
    try:
        out = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = int(f.read().split()[0])
        return out
    except (OSError, ValueError, IndexError):
        return None


def proc_threads_runs(pid):
    """Times the threads of PID were put on a CPU (the third field of
    schedstat): a milter's wake-ups, each a context switch."""
    try:
        n = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                n += int(f.read().split()[2])
        return n
    except (OSError, ValueError, IndexError):
        return None


def proc_threads_sleeps(pid):
    """Voluntary context switches of the threads of PID (status's
    voluntary_ctxt_switches): each is the milter going to sleep, then a
    wake-up. Unlike runs (schedstat), preemption by other work on a busy
    machine does not count."""
    try:
        n = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        n += int(line.split()[1])
        return n
    except (OSError, ValueError, IndexError):
        return None


def proc_minflt(pid):
    """Minor page faults of PID (all its threads, ended ones included):
    memory the milter touches for the first time, or again after the
    kernel took it back; each costs a trap."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return int(st[st.rindex(")") + 2 :].split()[7])
    except (OSError, ValueError, IndexError):
        return None


def cpu_delta(c0, c1, t0, t1):
    """CPU seconds between two samples: from schedstat when the same threads
    lived through the window (a thread that ended takes its time with it),
    else utime+stime."""
    if t0 and t1 and set(t0) == set(t1):
        return sum(t1[k] - t0[k] for k in t0) / 1e9
    return c1 - c0


def proc_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def send_one(a, data, mail_from):
    """One SMTP session, one message. Returns (final code, text)."""
    try:
        s = smtplib.SMTP(
            a.host,
            a.port,
            local_hostname=a.helo,
            timeout=a.timeout,
            source_address=(a.source, 0),
        )
    except smtplib.SMTPConnectError as e:
        return e.smtp_code, str(e.smtp_error)
    except (OSError, smtplib.SMTPException) as e:
        return 0, "connect: %s" % e
    try:
        code, msg = s.ehlo()
        if code != 250:
            return code, msg.decode(errors="replace")
        code, msg = s.mail(mail_from)
        if code != 250:
            return code, msg.decode(errors="replace")
        code, msg = s.rcpt(a.rcpt)
        if code not in (250, 251):
            return code, msg.decode(errors="replace")
        try:
            code, msg = s.data(data)
        except smtplib.SMTPDataError as e:  # DATA itself refused
            return e.smtp_code, e.smtp_error.decode(errors="replace")
        return code, msg.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as e:
        return 0, "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


def run_batch(a, corpus, first, count, results):
    """Sends messages first..first+count-1 from a.clients threads; returns wall s."""
    lock = threading.Lock()
    nxt = [first]
    end = first + count

    def worker():
        while True:
            with lock:
                seq = nxt[0]
                if seq >= end:
                    return
                nxt[0] += 1
            t = corpus[seq % len(corpus)]
            data = b"X-Load-Id: %s.%d\r\n" % (a.tag.encode(), seq) + t["data"]
            t0 = time.monotonic()
            code, text = send_one(a, data, t["mail_from"])
            results[seq] = (t["class"], code, text, time.monotonic() - t0)

    threads = [threading.Thread(target=worker) for _ in range(min(a.clients, count))]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.monotonic() - t0


ID_RE = re.compile(rb"^X-Load-Id: ([^\r\n]+)", re.M)


def header_block(raw):
    end = raw.find(b"\n\n")
    h = raw if end < 0 else raw[:end]
    return re.sub(rb"\r?\n[ \t]+", b" ", h.replace(b"\r\n", b"\n"))


def scan_maildir(maildir, prefix):
    """{load id: [header blocks]} of the delivered messages whose id starts with prefix."""
    found = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            try:
                with open(os.path.join(d, n), "rb") as f:
                    raw = f.read(16384)
            except FileNotFoundError:
                continue
            h = header_block(raw)
            m = ID_RE.search(h)
            if m and m.group(1).decode().startswith(prefix):
                found.setdefault(m.group(1).decode(), []).append(h)
    return found


def cmd_send(a):
    idx = json.load(open(os.path.join(a.corpus, "index.json")))
    corpus = []
    for e in idx:
        e = dict(e)
        e["data"] = open(os.path.join(a.corpus, e["file"]), "rb").read()
        corpus.append(e)
    pids = [int(p) for p in a.pids.split(",") if p] if a.pids else []
    expect = EXPECT[a.expect]
    results = {}

    if a.warmup:
        # the first message alone: OpenDKIM 2.11 sets its resolver up on
        # first use without a lock, and dies ("fatal flex scanner internal
        # error") when that first use comes from several threads at once
        c = a.clients
        a.clients = 1
        run_batch(a, corpus, 0, 1, results)
        a.clients = c
        run_batch(a, corpus, 1, a.warmup - 1, results)
    cpu0 = [proc_cpu(p) for p in pids]
    th0 = [proc_threads_ns(p) for p in pids]
    runs0 = [proc_threads_runs(p) for p in pids]
    sleeps0 = [proc_threads_sleeps(p) for p in pids]
    flt0 = [proc_minflt(p) for p in pids]
    us0 = [proc_user_sys(p) for p in pids]
    wall = run_batch(a, corpus, a.warmup, a.messages, results)
    cpu1 = [proc_cpu(p) for p in pids]
    th1 = [proc_threads_ns(p) for p in pids]
    runs1 = [proc_threads_runs(p) for p in pids]
    sleeps1 = [proc_threads_sleeps(p) for p in pids]
    flt1 = [proc_minflt(p) for p in pids]
    us1 = [proc_user_sys(p) for p in pids]
    hwm = [proc_hwm_kib(p) for p in pids]

    codes, wrong, errors = {}, {}, []
    accepted = set()
    timed_lat = []
    for seq, (cls, code, text, lat) in sorted(results.items()):
        key = "%s:%d" % (cls, code)
        codes[key] = codes.get(key, 0) + 1
        if code != expect[cls]:
            wrong[key] = wrong.get(key, 0) + 1
            if len(errors) < 5:
                errors.append("%s.%d %s: %d %s" % (a.tag, seq, cls, code, text.strip()))
        if 200 <= code < 300:
            accepted.add("%s.%d" % (a.tag, seq))
        if seq >= a.warmup:
            timed_lat.append(lat)

    # every accepted message must reach the Maildir (virtual(8) delivers
    # ~50-200 ms after the 250; a backlog takes longer)
    deadline = time.monotonic() + a.deliver_timeout
    t_del0 = time.monotonic()
    while True:
        found = scan_maildir(a.maildir, a.tag + ".")
        if accepted <= set(found) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    drain = time.monotonic() - t_del0
    lost = sorted(accepted - set(found))
    unexpected = sorted(set(found) - accepted)
    dups = sorted(k for k, v in found.items() if len(v) > 1)

    # the milters really did the work: A-R of delivered mail
    ar_bad = 0
    ar_example = ""
    if a.expect != "none":
        for seq, (cls, code, _, _) in results.items():
            k = "%s.%d" % (a.tag, seq)
            if cls not in EXPECT_AR or k not in found:
                continue
            h = found[k][0].decode(errors="replace")
            ars = [l for l in h.split("\n") if l.lower().startswith("authentication-results:")]
            joined = " ".join(ars)
            if not ar_example and cls == "signed":
                ar_example = joined
            if not all(w in joined for w in EXPECT_AR[cls]):
                ar_bad += 1
                if len(errors) < 8:
                    errors.append("%s %s: A-R lacks %s: %s" % (k, cls, EXPECT_AR[cls], joined))

    # a milter gone during the batch: no CPU figure for it
    cpu_s = [0.0 if c0 is None or c1 is None else cpu_delta(c0, c1, t0, t1)
             for c0, c1, t0, t1 in zip(cpu0, cpu1, th0, th1)]
    gone = [p for p, c0, c1 in zip(pids, cpu0, cpu1) if c0 is None or c1 is None]
    for p in gone:
        errors.insert(0, "milter pid %d is gone (crashed?)" % p)

    timed_lat.sort()
    n = len(timed_lat)
    rec = {
        "setup": a.setup,
        "tag": a.tag,
        "round": a.round,
        "messages": a.messages,
        "clients": a.clients,
        "warmup": a.warmup,
        "wall_s": wall,
        "rate": a.messages / wall if wall > 0 else 0,
        "accepted_timed": sum(
            1 for s, r in results.items() if s >= a.warmup and 200 <= r[1] < 300
        ),
        "lat_ms_p50": 1000 * timed_lat[n // 2] if n else None,
        "lat_ms_p90": 1000 * timed_lat[min(n - 1, int(n * 0.9))] if n else None,
        "lat_ms_max": 1000 * timed_lat[-1] if n else None,
        "codes": codes,
        "wrong": wrong,
        "accepted": len(accepted),
        "delivered": len(found),
        "lost": len(lost),
        "unexpected": len(unexpected),
        "duplicates": len(dups),
        "ar_bad": ar_bad,
        "ar_example": ar_example,
        "drain_s": drain,
        "cpu_s": cpu_s,
        "hwm_kib": hwm,
        "runs": [None if r0 is None or r1 is None else r1 - r0 for r0, r1 in zip(runs0, runs1)],
        "sleeps": [
            None if r0 is None or r1 is None else r1 - r0 for r0, r1 in zip(sleeps0, sleeps1)
        ],
        "minflt": [None if r0 is None or r1 is None else r1 - r0 for r0, r1 in zip(flt0, flt1)],
        "user_sys_ticks": [
            None if u0 is None or u1 is None else [u1[0] - u0[0], u1[1] - u0[1]]
            for u0, u1 in zip(us0, us1)
        ],
        "errors": errors + ["lost: " + x for x in lost[:5]],
    }
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
    rec["milters_gone"] = len(gone)
    ok = not wrong and not lost and not unexpected and not dups and not ar_bad and not gone
    cpu = sum(rec["cpu_s"])
    ut = sum(x[0] for x in rec["user_sys_ticks"] if x)
    st = sum(x[1] for x in rec["user_sys_ticks"] if x)
    print(
        "%-16s round %d: %4d msgs in %5.2f s = %6.1f msg/s, p50 %5.1f ms p90 %5.1f ms max %6.1f ms;"
        " milter CPU %.3f ms/msg (user %s), %.1f runs/msg, %.2f sleeps/msg, %.2f faults/msg;"
        " accepted %d delivered %d lost %d%s"
        % (
            a.setup, a.round, a.messages, wall, rec["rate"], rec["lat_ms_p50"],
            rec["lat_ms_p90"], rec["lat_ms_max"], 1000 * cpu / a.messages if pids else 0,
            "%d%% of %d ticks" % (100 * ut // (ut + st), ut + st) if ut + st else "-",
            sum(r or 0 for r in rec["runs"]) / a.messages,
            sum(r or 0 for r in rec["sleeps"]) / a.messages,
            sum(r or 0 for r in rec["minflt"]) / a.messages,
            len(accepted), len(found), len(lost), "" if ok else "  <-- NOT AS EXPECTED",
        ),
        flush=True,
    )
    for e in rec["errors"]:
        print("    " + e)
    return 0 if ok else 1


# --------------------------------------------------------------------------
# report


def cmd_report(a):
    recs = []
    for fn in a.files:
        with open(fn) as f:
            recs += [json.loads(l) for l in f if l.strip()]
    order, by = [], {}
    for r in recs:
        if r["setup"] not in by:
            order.append(r["setup"])
        by.setdefault(r["setup"], []).append(r)
    med = {}
    rows = []
    for s in order:
        rs = by[s]
        rates = [r["rate"] for r in rs]
        med[s] = statistics.median(rates)
        msgs = sum(r["messages"] for r in rs)
        cpu = sum(sum(r["cpu_s"]) for r in rs)
        ncpu = len(rs[0]["cpu_s"])
        hwm = [max(r["hwm_kib"][i] for r in rs) for i in range(ncpu)]
        rows.append(
            (
                s,
                "%d" % len(rs),
                "%.1f" % med[s],
                "%.0f..%.0f" % (min(rates), max(rates)),
                "%.1f / %.1f" % (
                    statistics.median(r["lat_ms_p50"] for r in rs),
                    statistics.median(r["lat_ms_p90"] for r in rs),
                ),
                "%.0f" % max(r["lat_ms_max"] for r in rs),
                ("%.3f" % (1000 * cpu / msgs)) if ncpu else "-",
                " + ".join("%.1f" % (h / 1024) for h in hwm) if ncpu else "-",
                "%d/%d" % (sum(r["accepted"] for r in rs), sum(r["delivered"] for r in rs)),
                "%d" % sum(r["lost"] + r["unexpected"] + r["duplicates"] for r in rs),
                "%d" % sum(sum(r["wrong"].values()) for r in rs),
                "%d" % sum(r["ar_bad"] for r in rs),
            )
        )
    head = (
        "setup", "rounds", "msg/s (median)", "min..max", "latency p50/p90 ms", "max ms",
        "milter CPU ms/msg", "peak RSS MiB", "accepted/delivered", "lost", "wrong code", "bad A-R",
    )
    r0 = by[order[0]][0]
    print(
        "\n%d messages (+%d warm-up) per setup and round, %d clients, one message per SMTP session\n"
        % (r0["messages"], r0["warmup"], r0["clients"])
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    # Ratios: of the medians, and the median of the per-round ratios (the
    # setups of one round ran back to back, so a burst of load from other
    # processes hits both sides of a per-round ratio alike).
    def per_round(a, b):
        ra = {r["round"]: r["rate"] for r in by.get(a, [])}
        rb = {r["round"]: r["rate"] for r in by.get(b, [])}
        v = sorted(ra[k] / rb[k] for k in ra if k in rb and rb[k] > 0)
        if not v:
            return ""
        return " (per round: median %.2f, %.2f..%.2f)" % (statistics.median(v), v[0], v[-1])

    base, peers = "no milter", "opendkim+opendmarc tcp"
    cpu_ms = {}
    for s in order:
        rs = by[s]
        if rs[0]["cpu_s"]:
            cpu_ms[s] = 1000 * sum(sum(r["cpu_s"]) for r in rs) / sum(r["messages"] for r in rs)
    for s in order:
        if s.startswith("spoofguardd"):
            parts = []
            if base in med:
                v = med[s] / med[base]
                parts.append(
                    "/ no milter = %.2f%s, target >= 0.85: %s"
                    % (v, per_round(s, base), "met" if v >= 0.85 else "NOT met")
                )
            if s in cpu_ms:
                parts.append("milter CPU %.3f ms/msg, target <= 0.15: %s"
                             % (cpu_ms[s], "met" if cpu_ms[s] <= 0.15 else "NOT met"))
            if peers in med:
                parts.append("/ opendkim+opendmarc = %.2fx%s" % (med[s] / med[peers], per_round(s, peers)))
            # The floor milter negotiates what spoofguardd does and checks
            # nothing: what is left above it is the checks' own cost.
            floor = "floor milter " + s.split()[-1]
            if floor in med:
                parts.append("/ %s = %.2f%s, CPU above it %.3f ms/msg"
                             % (floor, med[s] / med[floor], per_round(s, floor),
                                cpu_ms.get(s, 0) - cpu_ms.get(floor, 0)))
            if parts:
                print("%s: %s" % (s, ";  ".join(parts)))
    for s in [peers] + [o for o in order if o.startswith("floor milter")]:
        if s in med and base in med:
            print("%s: / no milter = %.2f%s" % (s, med[s] / med[base], per_round(s, base)))
    bad = sum(
        r["lost"] + r["unexpected"] + r["duplicates"] + sum(r["wrong"].values()) + r["ar_bad"]
        + r.get("milters_gone", 0)
        for r in recs
    )
    print("correctness: %s" % ("every message delivered or rejected as expected, none lost"
                               if bad == 0 else "%d problems (see the lines above)" % bad))
    return 0 if bad == 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("--key", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--templates", type=int, default=100)
    c.add_argument("--domain", default="remote.bench")
    s = sub.add_parser("send")
    s.add_argument("--corpus", required=True)
    s.add_argument("--setup", required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--round", type=int, default=1)
    s.add_argument("--messages", type=int, default=400)
    s.add_argument("--clients", type=int, default=8)
    s.add_argument("--warmup", type=int, default=16)
    s.add_argument("--expect", choices=sorted(EXPECT), required=True)
    s.add_argument("--maildir", required=True)
    s.add_argument("--rcpt", default="bob@rcpt.test")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=2525)
    s.add_argument("--source", default="127.0.0.20")
    s.add_argument("--helo", default="mx.remote.test")
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--deliver-timeout", type=float, default=60)
    s.add_argument("--pids", default="")
    s.add_argument("--out")
    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    a = p.parse_args()
    if a.cmd == "send":
        # bounded: a fixed message count, each session with its own timeout
        if not (1 <= a.messages <= 100000 and 1 <= a.clients <= 256 and 0 <= a.warmup <= 10000):
            p.error("--messages 1..100000, --clients 1..256, --warmup 0..10000")
        socket.setdefaulttimeout(a.timeout)
    return {"corpus": cmd_corpus, "send": cmd_send, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
