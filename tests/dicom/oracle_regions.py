"""Reads level-0 regions of a DICOM WSI series with OpenSlide 4 (or wsidicom when OpenSlide
cannot open it) and writes each as raw RGB, flattened onto white, for tests/tests/dicom.rs.

Usage: oracle_regions.py [--ycbcr] SERIES OUTDIR X,Y,W,H...
SERIES is a directory or one of its files. With --ycbcr, the reader's samples are taken as
YCbCr and converted to RGB with JFIF's equations: OpenSlide 4.0.1 and wsidicom believe a
series labelled RGB whose JPEG frames are JFIF (YCbCr), and hand out the YCbCr samples.
Prints one JSON line: the reader used and the number of levels it sees.
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def jfif_ycbcr_to_rgb(image: Image.Image) -> Image.Image:
    ycc = np.asarray(image, dtype=np.float64)
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    rgb = np.stack(
        [y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1
    )
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def openslide_reader(series: Path):
    import openslide

    path = series if series.is_file() else sorted(series.glob("*.dcm"))[0]
    slide = openslide.OpenSlide(str(path))
    name = f"openslide {openslide.__library_version__}"

    def read(x, y, w, h):
        return slide.read_region((x, y), 0, (w, h))

    return name, slide.level_count, read


def wsidicom_reader(series: Path):
    import wsidicom

    folder = series if series.is_dir() else series.parent
    slide = wsidicom.WsiDicom.open(folder)
    name = f"wsidicom {wsidicom.__version__}"

    def read(x, y, w, h):
        return slide.read_region((x, y), 0, (w, h))

    return name, len(slide.levels), read


def main() -> None:
    args = sys.argv[1:]
    ycbcr = args[0] == "--ycbcr"
    if ycbcr:
        args = args[1:]
    series, out, specs = Path(args[0]), Path(args[1]), args[2:]
    errors = []
    for make in (openslide_reader, wsidicom_reader):
        try:
            name, levels, read = make(series)
            break
        except Exception as e:  # noqa: BLE001 - try the next reader, report both
            errors.append(f"{make.__name__}: {e}")
    else:
        sys.exit("no oracle reads the series: " + "; ".join(errors))
    for i, spec in enumerate(specs):
        x, y, w, h = (int(v) for v in spec.split(","))
        region = read(x, y, w, h).convert("RGBA")
        white = Image.new("RGBA", region.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, region).convert("RGB")
        if ycbcr:
            rgb = jfif_ycbcr_to_rgb(rgb)
        (out / f"region-{i}.rgb").write_bytes(rgb.tobytes())
    print(json.dumps({"reader": name, "levels": levels, "tried": errors}))


if __name__ == "__main__":
    main()
