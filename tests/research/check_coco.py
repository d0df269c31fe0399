"""Checks `tessera export --format coco` with pycocotools against `tessera patches`.

Usage: check_coco.py COCO.json OUT

Loads the COCO file with pycocotools; for every annotation, `annToMask` must equal the
instance mask of the same patch (OUT's PNG, pixels whose label is the annotation's) in at
least 99.9 % of the patch's pixels. Images are matched to the manifest by file name,
annotations to labels by their `tessera_id`. Prints one JSON line; exits 1 on failure.
"""

import json
import sys

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

BAR = 0.999


def main(coco_path, out):
    coco = COCO(coco_path)
    with open(f"{out}/manifest.jsonl") as f:
        manifest = {e["image"]: e for e in map(json.loads, f)}
    worst, checked, images = 1.0, 0, 0
    assert len(coco.getImgIds()) == len(manifest), "one COCO image per patch"
    for img in coco.loadImgs(coco.getImgIds()):
        e = manifest[img["file_name"]]
        label_of = {uuid: int(label) for label, uuid in e["instances"].items()}
        inst = np.asarray(Image.open(f"{out}/{e['instance']}")).astype(np.int64)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):
            m = coco.annToMask(ann)
            ours = inst == label_of[ann["tessera_id"]]
            worst = min(worst, float((m.astype(bool) == ours).mean()))
            checked += 1
        images += 1
    cats = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    classes = next(iter(manifest.values()))["classes"] if manifest else {}
    ok = checked > 0 and worst >= BAR and cats == classes
    print(json.dumps({"images": images, "annotations": checked, "worst_agreement": worst,
                      "categories_match": cats == classes, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
