#!/usr/bin/env bash
# Installs what building and testing Tessera needs on a fresh Debian machine:
# OpenSlide and clang for the Rust build, cmake and nasm for libjpeg-turbo, Node.js for the viewer's packages, Debian's
# Chromium for the browser tests, Orthanc's WSI dicomizer and libturbojpeg (for wsidicomizer) to make
# DICOM test series, then the viewer's npm packages from the lockfile.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libopenslide-dev libclang-dev clang cmake nasm openslide-tools python3-venv curl chromium
  orthanc-wsi libturbojpeg0 postgresql-15-postgis-3)
command -v node >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

# The viewer's packages (OpenSeadragon, playwright-core), reinstalled when the lockfile changes.
if [ ! -f viewer/node_modules/.package-lock.json ] ||
   [ viewer/package-lock.json -nt viewer/node_modules/.package-lock.json ]; then
  (cd viewer && npm ci --no-audit --no-fund --loglevel=error)
fi
