#!/usr/bin/env bash
# gpu-check-bundle/: what `make gpu-check` needs on an air-gapped CUDA box whose Python already has
# torch, transformers and accelerate: the few extra wheels, pinned with the hashes of
# requirements.lock, whisper-small's config, tokenizer and feature extractor (no weights), and the
# embedded corpus repacked as corpus.zip (so that pyarrow, a 55 MB wheel, is not needed).
# Copy the project tree with this folder in it; on the box:
#   pip install --no-index --find-links gpu-check-bundle/wheels -r gpu-check-bundle/requirements.txt
#   make gpu-check
# BUNDLE_PYTHON=3.10 (say) fetches wheels for that interpreter instead of this one (pins without
# hashes then: the lock's hashes are of this interpreter's wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
out=gpu-check-bundle
packages="soundfile cffi pycparser soxr"
tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/wheels"

"$py" - "$packages" "${BUNDLE_PYTHON:-}" > "$tmp/requirements.txt" <<'PY'
import re, sys
wanted, other_python = set(sys.argv[1].split()), sys.argv[2]
text = open("requirements.lock").read()
for name, version, sha in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$", text, re.M):
    if name.lower() in wanted:
        print(f"{name}=={version}" if other_python else f"{name}=={version} --hash=sha256:{sha}")
        wanted.discard(name.lower())
if wanted:
    sys.exit(f"gpu_check_bundle: not in requirements.lock: {' '.join(sorted(wanted))}")
PY

target=()
if [ -n "${BUNDLE_PYTHON:-}" ]; then
  target=(--python-version "$BUNDLE_PYTHON" --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64)
fi
"$py" -m pip download --quiet --no-deps --only-binary :all: "${target[@]}" -d "$tmp/wheels" -r "$tmp/requirements.txt"
HF_HUB_OFFLINE=1 "$py" -m bench.gpu_check --export-bundle "$tmp" --model small > /dev/null
rm -rf "$out"
mv "$tmp" "$out"
echo "wrote $out/ ($(du -sh "$out" | cut -f1)): $(ls "$out/wheels" | tr '\n' ' ')"
