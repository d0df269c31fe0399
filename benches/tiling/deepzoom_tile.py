#!/usr/bin/python3
"""OpenSlide DeepZoom peer for the tiling benchmark (see ../shared/PEERS.md, "Tiling").

DeepZoomGenerator(slide, 254, 1, limit_bounds=False); N worker processes (default 2), each
with its own OpenSlide handle; one job per (level, tile row); every tile of every level saved
as JPEG Q90 to OUT/<level>/<col>_<row>.jpg. Run with Debian's /usr/bin/python3
(python3-openslide). Usage: deepzoom_tile.py SLIDE OUT [WORKERS]
"""
import multiprocessing as mp
import os
import sys

import openslide
from openslide.deepzoom import DeepZoomGenerator

TILE, OVERLAP, QUALITY = 254, 1, 90
_dz = None  # per-worker generator (own slide handle)


def _init(path):
    global _dz
    _dz = DeepZoomGenerator(openslide.OpenSlide(path), TILE, OVERLAP, limit_bounds=False)


def _row(job):
    level, row, out = job
    cols = _dz.level_tiles[level][0]
    for col in range(cols):
        _dz.get_tile(level, (col, row)).save(
            os.path.join(out, str(level), f"{col}_{row}.jpg"), quality=QUALITY)
    return cols


def main():
    path, out = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    # The parent only needs the grid geometry; workers open their own handles.
    dz = DeepZoomGenerator(openslide.OpenSlide(path), TILE, OVERLAP, limit_bounds=False)
    jobs = []
    for level in range(dz.level_count):
        os.makedirs(os.path.join(out, str(level)), exist_ok=True)
        jobs += [(level, row, out) for row in range(dz.level_tiles[level][1])]
    jobs.reverse()  # biggest levels first: small jobs fill the tail
    with mp.Pool(workers, initializer=_init, initargs=(path,)) as pool:
        tiles = sum(pool.imap_unordered(_row, jobs, chunksize=1))
    print(f"deepzoom: {dz.level_count} levels, {tiles} tiles, {workers} workers")


if __name__ == "__main__":
    main()
