#!/usr/bin/env python3
"""Outbound abuse simulator (issue 14, "Evaluation").

Generates months of synthetic outbound traffic as `spoofguard accounts
replay` events, runs the replay (the same decision code as spoofguardd, on
the events' clock), and scores the decisions:

  benign populations   office staff (daily and weekly rhythm, holidays,
                       leave, the odd team mail), travelling users (networks
                       change on trips), mobile users (a carrier's pool of
                       networks), newsletter senders (class "newsletter"),
                       support mailboxes (many first-time recipients)
  compromise scenarios injected into benign accounts after their 14-day
                       learning period: spam_burst (500 recipients in 10
                       minutes), slow_drip (1 a minute to new recipients),
                       lateral_phish (>= 50 internal recipients),
                       many_networks (logins from >= 20 networks),
                       bounce_storm (>= 10% hard bounces)

Per scenario: caught or not, recipients reached before the hold (recipients
of the attack's messages that were allowed before the account's first hold
or block), time to hold. Per benign population: false holds (hold or block
decisions, not counting the holds of an account already blocked) per
10,000 account-days, after day 14 only. Deterministic for a seed.

  bench/outbound_sim.py --small --seed 1            # CI size, < 60 s
  bench/outbound_sim.py --seeds 2,3,4,5             # full size
  bench/outbound_sim.py --cli build/spoofguard --keep DIR

Exit status: 0 the goals hold, 1 they do not, 2 usage or a failed replay.
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

T0 = 1767571200  # 2026-01-05 00:00 UTC, a Monday
DAY = 86400
LEARNING_DAYS = 14
ORG = "org.example"

GOAL_CAUGHT = 0.95
GOAL_MEDIAN_RCPTS = 20
GOAL_FALSE_PER_10K = 1.0

CONFIG = """# the classes an administrator would set up for the simulated site
outbound_internal_domain org.example
outbound_limit newsletter.messages_per_minute 200
outbound_limit newsletter.messages_per_hour 10000
outbound_limit newsletter.messages_per_day 50000
outbound_limit newsletter.recipients_per_day 200000
outbound_limit newsletter.external_recipients_per_day 200000
outbound_limit newsletter.new_account_recipients_per_day 200000
outbound_limit newsletter.weight_new_recipients 0
outbound_limit newsletter.weight_same_body 0
outbound_limit newsletter.weight_baseline_volume 0
"""

SIZES = {
    # days, office, travel, mobile, newsletter, support, attacks per scenario
    "small": (35, 40, 12, 14, 2, 6, 4),
    "full": (120, 240, 60, 80, 8, 24, 20),
}

SCENARIOS = ["spam_burst", "slow_drip", "lateral_phish", "many_networks", "bounce_storm"]


class Gen:
    """Events of one simulated site for one seed."""

    def __init__(self, seed, size):
        self.r = random.Random(seed)
        (self.days, n_office, n_travel, n_mobile, n_news, n_support,
         self.per_scenario) = SIZES[size]
        self.events = []  # (t, order, dict)
        self.order = 0
        self.accounts = []  # (login, population)
        self.colleagues = ["u%d@%s" % (i, ORG) for i in range(600)]
        # public holidays: a few weekdays the whole site is off
        self.holidays = set(self.r.sample(range(self.days), max(1, self.days // 30)))
        for pop, n in (("office", n_office), ("travel", n_travel), ("mobile", n_mobile),
                       ("newsletter", n_news), ("support", n_support)):
            for i in range(n):
                self.accounts.append(("%s%d@%s" % (pop, i, ORG), pop))
        self.attacks = []  # dicts: login, scenario, start, ids
        self.compromised = {}  # login -> attack start

    def emit(self, ev):
        self.order += 1
        self.events.append((ev["t"], self.order, ev))

    def msg(self, t, login, ip, rcpts, mid, body=None):
        ev = {"t": int(t), "login": login, "client_ip": ip, "mail_from": login,
              "rcpts": rcpts, "size": self.r.randint(2000, 80000), "id": mid}
        if body is not None:
            ev["body_hash"] = body
        self.emit(ev)

    # ---- benign people ----

    def person(self, login, pop, idx):
        r = self.r
        office_net = "10.%d.%d.%d" % (idx % 200, r.randint(0, 3), r.randint(2, 250))
        home_net = "198.%d.%d.%d" % (r.randint(18, 19), r.randint(0, 255), r.randint(2, 250))
        # a carrier's CGNAT pool: a handful of /24s in one /16
        carrier = ["100.%d.%d.%d" % (64 + idx % 60, r.randint(0, 255), 0) for _ in range(6)]
        contacts = r.sample(self.colleagues, r.randint(8, 30))
        contacts += ["c%d.%d@ext%d.example" % (idx, k, r.randint(0, 999))
                     for k in range(r.randint(10, 80))]
        weights = [1.0 / (k + 1) ** 0.8 for k in range(len(contacts))]
        rate = r.uniform(6, 35)  # messages on a working day
        leave = set()
        for _ in range(self.days // 60 + 1):  # a week or two of leave
            s = r.randrange(self.days)
            leave.update(range(s, s + r.randint(3, 10)))
        trips = set()
        if pop == "travel":
            d = r.randint(3, 20)
            while d < self.days:
                trips.update(range(d, d + r.randint(2, 5)))
                d += r.randint(14, 35)
        n = 0
        carrier_ip, carrier_until = None, 0
        for day in range(self.days):
            wd = (day + 0) % 7  # T0 is a Monday
            base = T0 + day * DAY
            if day in leave:
                count = 1 if r.random() < 0.2 else 0
            elif wd >= 5 or day in self.holidays:
                count = r.randint(1, 5) if r.random() < 0.15 else 0
            else:
                count = poisson(r, rate)
            trip_nets = []
            if day in trips:
                trip_nets = ["%d.%d.%d.%d" % (r.randint(1, 223), r.randint(0, 255),
                                              r.randint(0, 255), r.randint(2, 250))
                             for _ in range(r.randint(2, 4))]
            times = sorted(working_time(r) for _ in range(count))
            # now and then a team mail to many colleagues
            if wd < 5 and day not in leave and r.random() < 0.03:
                times.append(working_time(r))
                times.sort()
                team_at = times[-1]
            else:
                team_at = None
            for off in times:
                t = base + off
                hour = off // 3600
                if trip_nets:
                    ip = r.choice(trip_nets)
                elif pop == "mobile" and r.random() < 0.45:
                    if carrier_ip is None or t > carrier_until:
                        carrier_ip = r.choice(carrier)[:-1] + str(r.randint(2, 250))
                        carrier_until = t + r.randint(1800, 4 * 3600)
                    ip = carrier_ip
                elif hour < 8 or hour >= 18 or wd >= 5:
                    ip = home_net
                else:
                    ip = office_net
                if off == team_at:
                    # the team: colleagues written to before, and a few new
                    known = [c for c in contacts if c.endswith("@" + ORG)]
                    rcpts = r.sample(known, min(len(known), r.randint(8, 20)))
                    rcpts += r.sample(self.colleagues, r.randint(0, 5))
                    rcpts = list(dict.fromkeys(rcpts))
                else:
                    k = rcpt_count(r)
                    rcpts = []
                    for _ in range(k):
                        if r.random() < 0.10:
                            if r.random() < 0.3:
                                a = r.choice(self.colleagues)
                            else:
                                a = "n%d.%d@ext%d.example" % (idx, r.randrange(10**6),
                                                              r.randint(0, 5000))
                            contacts.append(a)
                            weights.append(weights[-1])
                        else:
                            a = r.choices(contacts, weights)[0]
                        rcpts.append(a)
                    rcpts = list(dict.fromkeys(rcpts))
                n += 1
                self.msg(t, login, ip, rcpts, "%s#%d" % (login, n))

    def newsletter(self, login, idx):
        r = self.r
        subs = ["s%d.%d@ext%d.example" % (idx, k, r.randint(0, 3000))
                for k in range(r.randint(1500, 4000))]
        ip = "10.250.%d.10" % idx
        n = 0
        send_wd = r.randint(0, 4)
        hour = r.randint(8, 15)
        for day in range(self.days):
            base = T0 + day * DAY
            # a little ordinary mail every working day
            if day % 7 < 5:
                for _ in range(poisson(r, 3)):
                    n += 1
                    self.msg(base + working_time(r), login, ip,
                             [r.choice(self.colleagues)], "%s#%d" % (login, n))
            if day % 7 != send_wd:
                continue
            subs += ["s%d.%d@ext%d.example" % (idx, len(subs) + k, r.randint(0, 3000))
                     for k in range(r.randint(5, 40))]
            body = "news-%d-%d" % (idx, day)
            t = base + hour * 3600
            for i in range(0, len(subs), 50):
                n += 1
                self.msg(t, login, ip, subs[i:i + 50], "%s#%d" % (login, n), body)
                t += 1
            # 1-2% of a list bounces
            for a in r.sample(subs, int(len(subs) * r.uniform(0.005, 0.015))):
                self.emit({"t": int(t + r.randint(60, 3600)), "dsn_for": login,
                           "status": "5.1.1", "rcpt": a})

    def support(self, login, idx):
        r = self.r
        ip = "10.240.%d.20" % idx
        n = 0
        known = []
        rate = r.uniform(30, 90)
        for day in range(self.days):
            base = T0 + day * DAY
            wd = day % 7
            count = poisson(r, rate if wd < 5 else rate * 0.2)
            if r.random() < 0.05:
                count = int(count * 1.8)  # a bad day: an outage, a recall
            for off in sorted(working_time(r) for _ in range(count)):
                if r.random() < 0.7 or not known:
                    a = "cust%d.%d@isp%d.example" % (idx, r.randrange(10**7), r.randint(0, 800))
                    known.append(a)
                else:
                    a = r.choice(known[-300:])
                n += 1
                self.msg(base + off, login, ip, [a], "%s#%d" % (login, n))
                # customers mistype their addresses now and then
                if r.random() < 0.01:
                    self.emit({"t": int(base + off + r.randint(30, 600)), "dsn_for": login,
                               "status": "5.1.1", "rcpt": a})

    # ---- attacks ----

    def attack(self, login, scenario, start, k):
        r = self.r
        ids = []
        aid = "%s!%s" % (login, scenario)
        t = start

        def send(t, ip, rcpts, body=None):
            mid = "%s#%d" % (aid, len(ids))
            ids.append((mid, len(rcpts)))
            self.msg(t, login, ip, rcpts, mid, body)

        def rnd_ip():
            return "%d.%d.%d.%d" % (r.randint(1, 223), r.randint(0, 255), r.randint(0, 255),
                                    r.randint(2, 250))

        def victim():
            return "v%d@victim%d.example" % (r.randrange(10**9), r.randint(0, 10**5))

        body = "attack-%s-%d" % (scenario, k)
        if scenario == "spam_burst":
            ip = rnd_ip()
            batch = r.choice([1, 5, 10, 25, 50])
            total = 500
            step = 600.0 / (total / batch)
            sent = 0
            while sent < total:
                send(t, ip, [victim() for _ in range(batch)], body)
                sent += batch
                t += step
        elif scenario == "slow_drip":
            ip = rnd_ip() if r.random() < 0.5 else self.usual_ip(login)
            for i in range(24 * 60):
                send(t, ip, [victim()],
                     body if r.random() < 0.5 else None)
                t += 60
        elif scenario == "lateral_phish":
            ip = rnd_ip()
            targets = r.sample(self.colleagues, r.randint(50, 200))
            i = 0
            while i < len(targets):
                b = r.randint(1, 10)
                send(t, ip, targets[i:i + b], body)
                i += b
                t += r.uniform(10, 60)
        elif scenario == "many_networks":
            nets = [rnd_ip() for _ in range(r.randint(20, 40))]
            for ip in nets:
                for _ in range(r.randint(1, 3)):
                    send(t, ip, [victim() for _ in range(r.randint(1, 3))],
                         body if r.random() < 0.5 else None)
                    t += r.uniform(20, 300)
        elif scenario == "bounce_storm":
            ip = rnd_ip()
            rate = r.uniform(0.10, 0.30)
            for i in range(200):
                rcpts = [victim() for _ in range(r.randint(1, 5))]
                send(t, ip, rcpts, None)
                for a in rcpts:
                    if r.random() < rate:
                        self.emit({"t": int(t + r.randint(20, 300)), "dsn_for": login,
                                   "status": "5.1.1", "rcpt": a})
                t += r.uniform(60, 240)
        self.attacks.append({"login": login, "scenario": scenario, "start": int(start),
                             "ids": ids})

    def usual_ip(self, login):
        for t, _, ev in self.events:
            if ev.get("login") == login:
                return ev["client_ip"]
        return "10.0.0.1"

    def build(self):
        for idx, (login, pop) in enumerate(self.accounts):
            if pop in ("office", "travel", "mobile"):
                self.person(login, pop, idx)
            elif pop == "newsletter":
                self.newsletter(login, idx)
            else:
                self.support(login, idx)
        people = [a for a, p in self.accounts if p in ("office", "travel", "mobile")]
        victims = self.r.sample(people, min(len(people), self.per_scenario * len(SCENARIOS)))
        for i, login in enumerate(victims):
            scenario = SCENARIOS[i % len(SCENARIOS)]
            day = self.r.randint(LEARNING_DAYS + 1, self.days - 2)
            start = T0 + day * DAY + self.r.randint(0, DAY - 1)
            self.compromised[login] = start
            self.attack(login, scenario, start, i)
        self.events.sort(key=lambda e: (e[0], e[1]))


def poisson(r, lam):
    # Knuth for small means, normal approximation above
    if lam > 30:
        return max(0, int(round(r.gauss(lam, math.sqrt(lam)))))
    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= r.random()
        if p <= L:
            return k
        k += 1


def working_time(r):
    """Seconds into a day: office hours with a lunch dip, some evenings."""
    x = r.random()
    if x < 0.08:
        return r.randint(19 * 3600, 23 * 3600)
    if x < 0.12:
        return r.randint(6 * 3600, 8 * 3600)
    h = r.choice([8, 9, 9, 10, 10, 10, 11, 11, 12, 13, 14, 14, 15, 15, 16, 16, 17])
    return h * 3600 + r.randint(0, 3599)


def rcpt_count(r):
    x = r.random()
    if x < 0.65:
        return 1
    if x < 0.90:
        return r.randint(2, 3)
    if x < 0.99:
        return r.randint(4, 10)
    return r.randint(11, 30)


def run_seed(cli, seed, size, keep):
    g = Gen(seed, size)
    g.build()
    tmp = keep or tempfile.mkdtemp(prefix="sg-obsim.")
    os.makedirs(tmp, exist_ok=True)
    evpath = os.path.join(tmp, "events-%d.jsonl" % seed)
    cfgpath = os.path.join(tmp, "outbound.conf")
    with open(cfgpath, "w") as f:
        f.write(CONFIG)
        for login, pop in g.accounts:
            if pop == "newsletter":
                f.write("outbound_account %s newsletter\n" % login)
    with open(evpath, "w") as f:
        for _, _, ev in g.events:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
    t0 = time.time()
    p = subprocess.run([cli, "accounts", "replay", "--stats", "--config", cfgpath, evpath],
                       capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(2)
    decisions = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if not keep:
        for fn in (evpath, cfgpath):
            os.unlink(fn)
        os.rmdir(tmp)
    return g, decisions, p.stderr.strip(), wall


def score(g, decisions):
    attack_of = {}
    for a in g.attacks:
        for mid, n in a["ids"]:
            attack_of[mid] = (a, n)
    first_hold = {}  # login -> list of (t, id) of hold/block, in order
    for d in decisions:
        if d["action"] in ("hold", "block"):
            first_hold.setdefault(d["login"], []).append(d)
    not_allowed = {d.get("id") for d in decisions}
    evt = {ev["id"]: ev["t"] for _, _, ev in g.events if "!" in ev.get("id", "")}
    results = []
    for a in g.attacks:
        holds = [d for d in first_hold.get(a["login"], []) if d["t"] >= a["start"]]
        end = a["start"] + 86400 + 3600
        caught = bool(holds) and holds[0]["t"] <= end
        th = holds[0]["t"] if caught else None
        # recipients of the attack's messages allowed before the hold
        reached = 0
        for mid, n in a["ids"]:
            if th is not None and evt[mid] >= th:
                break
            if mid not in not_allowed:
                reached += n
        results.append({"scenario": a["scenario"], "login": a["login"], "caught": caught,
                        "reached": reached,
                        "time_to_hold": (th - a["start"]) if caught else None,
                        "reasons": holds[0]["reasons"] if caught else []})
    # benign: false holds after the learning period
    pops = {}
    for login, pop in g.accounts:
        end_day = g.days
        if login in g.compromised:
            end_day = (g.compromised[login] - T0) // DAY
        pops.setdefault(pop, {"days": 0, "false": 0, "accounts": 0, "reasons": {}})
        pops[pop]["accounts"] += 1
        pops[pop]["days"] += max(0, end_day - LEARNING_DAYS)
    popof = dict(g.accounts)
    for d in decisions:
        if d["action"] not in ("hold", "block") or d["reasons"] == ["account_blocked"]:
            continue
        if "account_blocked" in d["reasons"]:
            continue
        login = d["login"]
        if login not in popof or d["t"] < T0 + LEARNING_DAYS * DAY:
            continue
        if login in g.compromised and d["t"] >= g.compromised[login]:
            continue
        p = pops[popof[login]]
        p["false"] += 1
        p.setdefault("list", []).append(d)
        for x in d["reasons"]:
            p["reasons"][x] = p["reasons"].get(x, 0) + 1
    return results, pops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="CI size (35 days, 74 accounts)")
    ap.add_argument("--seed", type=int, help="one seed")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 2,3,4,5)")
    ap.add_argument("--cli", default=os.environ.get("SG_CLI", "build/spoofguard"))
    ap.add_argument("--keep", default=None, help="keep events and config in this directory")
    ap.add_argument("--verbose", action="store_true", help="one line per attack")
    args = ap.parse_args()
    size = "small" if args.small else "full"
    seeds = [args.seed] if args.seed is not None else [
        int(s) for s in (args.seeds or "2,3,4,5").split(",")]

    all_results, pop_total = [], {}
    for seed in seeds:
        g, decisions, stats, wall = run_seed(args.cli, seed, size, args.keep)
        results, pops = score(g, decisions)
        all_results += results
        for k, v in pops.items():
            t = pop_total.setdefault(k, {"days": 0, "false": 0, "accounts": 0, "reasons": {}})
            for f in ("days", "false", "accounts"):
                t[f] += v[f]
            for x, n in v["reasons"].items():
                t["reasons"][x] = t["reasons"].get(x, 0) + n
        print("seed %d: %d events, %d accounts, %d days; %s (wall %.1f s)"
              % (seed, len(g.events), len(g.accounts), g.days, stats, wall))
        if args.verbose:
            for pop, v in pops.items():
                for d in v.get("list", []):
                    print("  false hold (%s, day %d): %s" % (pop, (d["t"] - T0) // DAY,
                                                           json.dumps(d)))
            for x in results:
                print("  %-14s %-22s caught=%s reached=%d t=%s %s"
                      % (x["scenario"], x["login"], x["caught"], x["reached"],
                         x["time_to_hold"], ",".join(x["reasons"])))

    print()
    print("%-15s %8s %8s %14s %14s %12s  %s" % ("scenario", "attacks", "caught", "rcpts median",
                                               "rcpts max", "hold median", "reasons (first hold)"))
    for sc in SCENARIOS:
        rs = [x for x in all_results if x["scenario"] == sc]
        if not rs:
            continue
        c = [x for x in rs if x["caught"]]
        reasons = {}
        for x in c:
            for y in x["reasons"]:
                reasons[y] = reasons.get(y, 0) + 1
        top = ",".join("%s:%d" % kv for kv in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        print("%-15s %8d %7.1f%% %14s %14s %12s  %s" % (
            sc, len(rs), 100.0 * len(c) / len(rs),
            statistics.median([x["reached"] for x in c]) if c else "-",
            max(x["reached"] for x in c) if c else "-",
            fmt_secs(statistics.median([x["time_to_hold"] for x in c])) if c else "-", top))
    print()
    print("%-15s %8s %12s %12s %16s  %s" % ("population", "accounts", "account-days",
                                            "false holds", "per 10k acct-days", "reasons"))
    tot_days = tot_false = 0
    for pop in ("office", "travel", "mobile", "newsletter", "support"):
        p = pop_total.get(pop)
        if not p:
            continue
        tot_days += p["days"]
        tot_false += p["false"]
        print("%-15s %8d %12d %12d %16.2f  %s" % (
            pop, p["accounts"], p["days"], p["false"],
            1e4 * p["false"] / p["days"] if p["days"] else 0.0,
            ",".join("%s:%d" % kv for kv in sorted(p["reasons"].items()))))
    caught = [x for x in all_results if x["caught"]]
    share = len(caught) / len(all_results) if all_results else 0
    med = statistics.median([x["reached"] for x in caught]) if caught else float("inf")
    fp = 1e4 * tot_false / tot_days if tot_days else 0
    ok = share >= GOAL_CAUGHT and med <= GOAL_MEDIAN_RCPTS and fp <= GOAL_FALSE_PER_10K
    print()
    print("SUMMARY|seeds=%s|size=%s|caught=%.1f%% (goal >= %.0f%%)|median recipients before "
          "hold=%s (goal <= %d)|false holds=%.2f per 10k account-days over %d (goal <= %.0f)|%s"
          % (",".join(map(str, seeds)), size, 100 * share, 100 * GOAL_CAUGHT, med,
             GOAL_MEDIAN_RCPTS, fp, tot_days, GOAL_FALSE_PER_10K, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


def fmt_secs(s):
    if s is None:
        return "-"
    if s < 120:
        return "%ds" % s
    if s < 7200:
        return "%.0fmin" % (s / 60)
    return "%.1fh" % (s / 3600)


if __name__ == "__main__":
    sys.exit(main())
