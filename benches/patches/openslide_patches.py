"""Reads a list of level-0 patches with OpenSlide's read_region, as a data loader that
cuts patches from the source slide would, in N processes; prints patches/s.

Usage: openslide_patches.py SLIDE PATCHES.txt PROCESSES SIZE
PATCHES.txt: one "x y" a line. Each patch becomes an RGB numpy array (what a training
loop consumes); nothing is written.
"""

import sys
import time
from multiprocessing import Pool

import numpy as np
import openslide

slide_path = None
size = 256


def init(path, side):
    global slide, size
    slide = openslide.OpenSlide(path)
    size = side


def read(chunk):
    total = 0
    for x, y in chunk:
        rgb = np.asarray(slide.read_region((x, y), 0, (size, size)).convert("RGB"))
        total += int(rgb[0, 0, 0])
    return len(chunk)


def main():
    path, listing, processes, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(listing) as f:
        patches = [tuple(map(int, line.split())) for line in f if line.strip()]
    chunks = [patches[i:i + 100] for i in range(0, len(patches), 100)]
    with Pool(processes, initializer=init, initargs=(path, side)) as pool:
        started = time.perf_counter()
        done = sum(pool.imap_unordered(read, chunks))
        seconds = time.perf_counter() - started
    print(f"{done} {seconds:.3f}")


if __name__ == "__main__":
    main()
