"""Reads `tessera patches --format tar` shards with WebDataset and compares every sample
with the same patch of a `--format png` export.

Usage: check_shards.py TAR_OUT PNG_OUT

Prints one JSON line; exits 1 unless every sample has an image, both masks and its
manifest object, equal to the PNG export's files and manifest line.
"""

import glob
import io
import json
import sys

import numpy as np
import webdataset as wds
from PIL import Image


def main(tar_out, png_out):
    with open(f"{png_out}/manifest.jsonl") as f:
        by_key = {}
        for e in map(json.loads, f):
            key = e["image"].split("/")[-1].removesuffix(".png")
            by_key[key] = e
    shards = sorted(glob.glob(f"{tar_out}/shards/*.tar"))
    samples = 0
    for sample in wds.WebDataset(shards, shardshuffle=False):
        key = sample["__key__"]
        e = by_key[key]
        meta = json.loads(sample["json"])
        assert {k: meta[k] for k in ("x", "y", "level", "instances", "classes")} == \
            {k: e[k] for k in ("x", "y", "level", "instances", "classes")}, key
        for member, path in (("image.png", e["image"]), ("semantic.png", e["semantic"]),
                             ("instance.png", e["instance"])):
            a = np.asarray(Image.open(io.BytesIO(sample[member])))
            b = np.asarray(Image.open(f"{png_out}/{path}"))
            assert a.dtype == b.dtype and np.array_equal(a, b), (key, member)
        samples += 1
    with open(f"{tar_out}/manifest.jsonl") as f:
        listed = sum(1 for _ in f)
    ok = samples == len(by_key) == listed and samples > 0
    print(json.dumps({"shards": len(shards), "samples": samples, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
