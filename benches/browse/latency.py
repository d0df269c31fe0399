"""Latency of GET requests over one keep-alive connection: python3 latency.py URL TOKEN N PATH...

For each PATH: 20 warm-up requests, then N timed ones (request sent to body read); prints
one JSON object per PATH with count, bytes, p50, p99, max (ms) and the rows answered.
"""
import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, token, n, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Host": u.netloc}

    def get(path):
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
        return body

    for path in paths:
        for _ in range(20):
            get(path)
        times, size = [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            body = get(path)
            times.append((time.perf_counter() - t0) * 1000)
            size = len(body)
        times.sort()
        answer = json.loads(body)
        rows = len(answer["slides"]) if isinstance(answer, dict) else len(answer)
        total = answer.get("total") if isinstance(answer, dict) else len(answer)
        pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(json.dumps({"path": path, "requests": n, "bytes": size, "rows": rows, "total": total,
                          "p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2),
                          "max_ms": round(times[-1], 2)}))


if __name__ == "__main__":
    main()
