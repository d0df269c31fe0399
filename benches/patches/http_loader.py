"""A data loader over HTTP: N connections fetch `/api/slides/{id}/patch` for a list of
level-0 patches, with both masks as NumPy (`format=npy`), and turn each answer into
arrays; prints patches/s.

Usage: http_loader.py HOST:PORT SLIDE_ID PATCHES.txt CONNECTIONS SIZE [MASKS]
"""

import http.client
import sys
import threading
import time

import numpy as np


def npy(data):
    header_len = int.from_bytes(data[8:10], "little")
    header = data[10:10 + header_len].decode()
    shape = tuple(int(v) for v in header.split("(")[1].split(")")[0].split(",") if v.strip())
    dtype = header.split("'descr': '")[1].split("'")[0]
    return np.frombuffer(data[10 + header_len:], dtype=np.dtype(dtype)).reshape(shape)


def parts(content_type, body):
    boundary = ("--" + content_type.split("boundary=")[1]).encode()
    out = []
    for piece in body.split(boundary)[1:-1]:
        head, _, content = piece.partition(b"\r\n\r\n")
        if b"application/x-npy" in head:
            out.append(npy(content[:-2]))
    return out


def main():
    addr, slide, listing, connections, side = sys.argv[1:6]
    masks = sys.argv[6] if len(sys.argv) > 6 else "semantic,instance"
    connections, side = int(connections), int(side)
    host, port = addr.split(":")
    with open(listing) as f:
        patches = [tuple(map(int, line.split())) for line in f if line.strip()]
    lock, done, next_i = threading.Lock(), [0], [0]

    def worker():
        conn = http.client.HTTPConnection(host, int(port))
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= len(patches):
                return
            x, y = patches[i]
            conn.request("GET", f"/api/slides/{slide}/patch?x={x}&y={y}&w={side}&h={side}"
                                f"&masks={masks}&format=npy")
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, body[:200]
            ct = r.getheader("Content-Type")
            arrays = parts(ct, body) if ct.startswith("multipart/") else [npy(body)]
            assert arrays[0].shape == (side, side, 3)
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{done[0]} {time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
