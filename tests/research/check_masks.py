"""Checks `tessera patches` masks against an independent rasteriser (GDAL's, through
rasterio.features.rasterize) with the same convention.

Usage: check_masks.py OUT EXPORT.geojson

OUT is a `tessera patches --format png` directory, EXPORT the slide's GeoJSON export.
Every instance in a patch's manifest is burned in label order (later on top) with
rasterio: a pixel takes a polygon's value when its centre is inside, rings by the
even-odd rule; a MultiPolygon's parts are burned one by one (a union). Tessera breaks ties
of a centre exactly on an edge by the half-open rule, which is the centre moved by an
infinitesimal amount right (ε) and a far smaller amount down (δ ≪ ε: which edges count
at a row's height is decided before where they cross it); GDAL breaks them otherwise, so
the geometries are moved left by ε = 1e-4 and up by δ = 1e-7 of a patch pixel (far below
the 1/100-pixel precision of stored coordinates) to ask GDAL the same question.

Prints one JSON line with the figures and exits 1 unless every patch agrees in at least
99.9 % of its pixels (semantic and instance masks) and every pixel of disagreement lies
within one patch pixel of an edge of the polygons involved.
"""

import json
import sys

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.features import rasterize

EPS_X, EPS_Y = 1e-4, 1e-7
BAR = 0.999


def parts(geometry):
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return []


def shifted(rings, dx, dy):
    return {"type": "Polygon", "coordinates": [[[x - dx, y - dy] for x, y in r] for r in rings]}


def segments(geometries):
    segs = []
    for g in geometries:
        for poly in parts(g):
            for ring in poly:
                r = np.asarray(ring, dtype=float)
                segs.append(np.stack([r[:-1], r[1:]], axis=1))
    return np.concatenate(segs) if segs else np.zeros((0, 2, 2))


def distance_to_edges(points, segs):
    """Distance from each point (n, 2) to the nearest segment (m, 2, 2)."""
    a, b = segs[:, 0][None], segs[:, 1][None]
    p = points[:, None]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    closest = a + t[..., None] * ab
    return np.sqrt(((p - closest) ** 2).sum(-1)).min(axis=1)


def main(out, export_path):
    with open(export_path) as f:
        features = {feat["id"]: feat for feat in json.load(f)["features"]}
    worst, patches, pixels, disagreeing, far = 1.0, 0, 0, 0, 0
    max_distance = 0.0
    with open(f"{out}/manifest.jsonl") as f:
        entries = [json.loads(line) for line in f]
    for e in entries:
        w, h, d = e["width"], e["height"], 2 ** e["level"]
        transform = Affine(d, 0, e["x"], 0, d, e["y"])
        classes = e["classes"]
        semantic_shapes, instance_shapes, geometries = [], [], {}
        for label in sorted(e["instances"], key=int):
            feat = features[e["instances"][label]]
            cls = classes[feat["properties"]["classification"]["name"]]
            geometries[int(label)] = feat["geometry"]
            for rings in parts(feat["geometry"]):
                g = shifted(rings, EPS_X * d, EPS_Y * d)
                semantic_shapes.append((g, cls))
                instance_shapes.append((g, int(label)))
        def burn(shapes, dtype):
            if not shapes:
                return np.zeros((h, w), dtype=dtype)
            return rasterize(shapes, out_shape=(h, w), transform=transform, fill=0, dtype=dtype)
        theirs_sem, theirs_inst = burn(semantic_shapes, "uint8"), burn(instance_shapes, "uint16")
        ours_sem = np.asarray(Image.open(f"{out}/{e['semantic']}"))
        ours_inst = np.asarray(Image.open(f"{out}/{e['instance']}")).astype(np.uint16)
        assert ours_sem.shape == (h, w) and ours_inst.shape == (h, w), e["image"]
        for ours, theirs in ((ours_sem, theirs_sem), (ours_inst, theirs_inst)):
            differ = ours != theirs
            worst = min(worst, 1 - differ.mean())
            rows, cols = np.nonzero(differ)
            disagreeing += len(rows)
            if len(rows):
                involved = set(ours_inst[rows, cols]) | set(theirs_inst[rows, cols])
                segs = segments([geometries[int(l)] for l in involved if int(l) in geometries])
                centres = np.stack([e["x"] + (cols + 0.5) * d, e["y"] + (rows + 0.5) * d], axis=1)
                dist = distance_to_edges(centres, segs) / d
                max_distance = max(max_distance, float(dist.max()))
                far += int((dist > 1.0).sum())
        patches += 1
        pixels += w * h
    worst = float(worst)
    ok = bool(patches > 0 and worst >= BAR and far == 0)
    print(json.dumps({
        "patches": patches,
        "pixels_per_mask": pixels,
        "worst_patch_agreement": worst,
        "disagreeing_pixels": disagreeing,
        "disagreeing_off_edges": far,
        "max_distance_to_edge_px": max_distance,
        "ok": ok,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
