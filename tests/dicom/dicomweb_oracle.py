"""Reads a slide from a DICOMweb server with independent DICOM readers, for
tests/tests/dicomweb.rs:

1. wsidicom opens the series through its DICOMweb client (dicomweb-client: QIDO-RS,
   WADO-RS metadata and frames) and reads level-0 regions;
2. the series is fetched again and each instance written as a DICOM Part 10 file, its
   JPEG frames encapsulated, through pydicom with validation set to raise (an attribute
   the server got wrong - VR, value, length - fails here); wsidicom opens the files and
   reads the same regions.

Usage: dicomweb_oracle.py SERVER OUTDIR X,Y,W,H...
SERVER is http://127.0.0.1:PORT, serving one slide under /dicomweb. Writes the regions as
raw RGB, web-N.rgb and file-N.rgb, and prints one JSON line: the readers, the levels each
sees, and the files written with their frame counts.
"""

import json
import sys
import urllib.request
from pathlib import Path

import wsidicom
from pydicom import config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate

FRAMES_PER_REQUEST = 256
JPEG_FRAMES = 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50'


def get(url: str, accept: str) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Type"], response.read()


def parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a multipart/related answer."""
    boundary = next(
        p.strip()[len("boundary=") :].strip('"')
        for p in content_type.split(";")
        if p.strip().startswith("boundary=")
    )
    found = []
    for part in body.split(b"--" + boundary.encode())[1:-1]:
        head, content = part.split(b"\r\n\r\n", 1)
        assert b"image/jpeg" in head.lower(), head
        found.append(content[:-2] if content.endswith(b"\r\n") else content)
    return found


def write_series(base: str, out: Path) -> list[dict]:
    """Writes every instance of the server's one series under `out`, one file each."""
    config.settings.reading_validation_mode = config.RAISE
    config.settings.writing_validation_mode = config.RAISE
    _, body = get(f"{base}/instances", "application/dicom+json")
    written = []
    for found in json.loads(body):
        study, series, sop = (found[t]["Value"][0] for t in ("0020000D", "0020000E", "00080018"))
        path = f"{base}/studies/{study}/series/{series}/instances/{sop}"
        _, body = get(f"{path}/metadata", "application/dicom+json")
        meta = json.loads(body)[0]
        transfer_syntax = meta.pop("00020010")["Value"][0]
        ds = Dataset.from_json(meta)
        count = int(ds.NumberOfFrames)
        frames = []
        for first in range(1, count + 1, FRAMES_PER_REQUEST):
            numbers = range(first, min(first + FRAMES_PER_REQUEST, count + 1))
            content_type, body = get(f"{path}/frames/{','.join(map(str, numbers))}", JPEG_FRAMES)
            frames.extend(parts(content_type, body))
        assert len(frames) == count, (len(frames), count)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
        name = out / f"level-{int(ds.InstanceNumber) - 1}.dcm"
        ds.save_as(name, enforce_file_format=True)
        written.append({"file": name.name, "frames": count})
    return written


def save_regions(slide, specs: list[str], out: Path, prefix: str) -> None:
    for i, spec in enumerate(specs):
        x, y, w, h = (int(v) for v in spec.split(","))
        region = slide.read_region((x, y), 0, (w, h)).convert("RGB")
        (out / f"{prefix}-{i}.rgb").write_bytes(region.tobytes())


def main() -> None:
    server, out, specs = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    base = f"{server}/dicomweb"
    _, body = get(f"{base}/series", "application/dicom+json")
    (found,) = json.loads(body)
    study, series = (found[t]["Value"][0] for t in ("0020000D", "0020000E"))
    client = wsidicom.WsiDicomWebClient.create_client(
        server, qido_prefix="dicomweb", wado_prefix="dicomweb"
    )
    web = wsidicom.WsiDicom.open_web(client, study, series)
    save_regions(web, specs, out, "web")
    files = out / "series"
    files.mkdir()
    written = write_series(base, files)
    from_files = wsidicom.WsiDicom.open(files)
    save_regions(from_files, specs, out, "file")
    print(
        json.dumps(
            {
                "reader": f"wsidicom {wsidicom.__version__}",
                "web_levels": len(web.levels),
                "file_levels": len(from_files.levels),
                "written": written,
            }
        )
    )


if __name__ == "__main__":
    main()
