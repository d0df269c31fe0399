#!/usr/bin/env python3
"""The cohort bench's client (see run.sh): viewport queries against `tessera serve`.

Subcommands, each printing one JSON object on stdout:
  cold URL N [load]   one 1920x1080 viewport on each slide slide-1..slide-N in turn, in a
                      fixed pseudo-random place; latency of each and the SHA-256 of each body
                      (with `load`: each slide is loaded whole first, by its summary, so the
                      answers are a loaded index's)
  random URL N SECS C viewports at random places on random slides from C connections for
                      SECS seconds: count, errors, p50/p99 ms
  first URL N         the latency of the very first viewport answered (after a restart)
  steady URL SLIDE SECS  viewports on one slide from one connection: p50/p99 ms
Slides are W x H pixels (env COHORT_W, COHORT_H); viewports ask for fields=qupath.
"""
import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

W = int(os.environ.get("COHORT_W", "48000"))
H = int(os.environ.get("COHORT_H", "36000"))
VW, VH = 1920, 1080


def viewport(rng):
    # The synthetic tissue fills the middle of the slide; keep the boxes on it.
    x = rng.randrange(W // 8, W - W // 8 - VW)
    y = rng.randrange(H // 8, H - H // 8 - VH)
    return f"{x},{y},{VW},{VH}"


class Client:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def get(self, path):
        """(status, body, seconds)"""
        started = time.perf_counter()
        try:
            self.conn.request("GET", path)
            r = self.conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            return 0, b"", time.perf_counter() - started
        return r.status, body, time.perf_counter() - started


def query(slide, box):
    return f"/api/slides/{slide}/annotations?bbox={box}&fields=qupath"


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def cold(url, n, load=False):
    rng = random.Random(7)
    c = Client(url)
    out = {"ms": [], "sha256": [], "features": [], "errors": 0}
    for i in range(1, n + 1):
        if load:
            status, _, _ = c.get(f"/api/slides/slide-{i}/annotations/summary")
            out["errors"] += status != 200
        status, body, s = c.get(query(f"slide-{i}", viewport(rng)))
        out["errors"] += status != 200
        out["ms"].append(s * 1000)
        out["sha256"].append(hashlib.sha256(body).hexdigest())
        out["features"].append(body.count(b'"type":"Feature"'))
    out["p50_ms"], out["p99_ms"] = pct(out["ms"], 50), pct(out["ms"], 99)
    return out


def random_load(url, n, secs, conns):
    stop = time.monotonic() + secs
    results = [[] for _ in range(conns)]
    errors = [0] * conns

    def run(k):
        rng = random.Random(1000 + k)
        c = Client(url)
        while time.monotonic() < stop:
            status, _, s = c.get(query(f"slide-{rng.randrange(1, n + 1)}", viewport(rng)))
            results[k].append(s * 1000)
            errors[k] += status != 200

    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = [v for r in results for v in r]
    return {"count": len(ms), "errors": sum(errors), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99),
            "max_ms": max(ms) if ms else None}


def first(url, n):
    rng = random.Random(99)
    status, _, s = Client(url).get(query(f"slide-{rng.randrange(1, n + 1)}", viewport(rng)))
    return {"status": status, "ms": s * 1000}


def steady(url, slide, secs):
    rng = random.Random(5)
    c = Client(url)
    ms, errors = [], 0
    stop = time.monotonic() + secs
    while time.monotonic() < stop:
        status, _, s = c.get(query(slide, viewport(rng)))
        ms.append(s * 1000)
        errors += status != 200
    return {"count": len(ms), "errors": errors, "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99)}


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "cold":
        r = cold(url, int(sys.argv[3]), sys.argv[4:] == ["load"])
    elif cmd == "random":
        r = random_load(url, int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "first":
        r = first(url, int(sys.argv[3]))
    elif cmd == "steady":
        r = steady(url, sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(f"unknown subcommand {cmd}")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
