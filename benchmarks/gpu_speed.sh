#!/usr/bin/env bash
# The GPU speed benchmarks of issue 13 item 5, as one command: bench official (uniclass fp32/bf16/fp16 against
# the official gliclass package on the same GPU), bench labels (the uni-encoder at 1..128 labels on ~64/256/512
# token texts, the table of RESULTS 5.1) and bench efficiency (fraction of the GPU's measured matmul peak).
#
#   benchmarks/gpu_speed.sh --fetch          # once, on a machine with network: fills .gpu-carry/ (ignored by git)
#   benchmarks/gpu_speed.sh [--quick] [OUT]  # on the GPU machine, from the repo root; OUT default $OUT, else
#                                            # benchmarks/results/gpu
#   DEVICE=cpu benchmarks/gpu_speed.sh --quick /tmp/gpu-dry   # the same steps on the CPU: a dry run of the logic
#
# Why it looks like this: the lent GPU machine (/work/.library/device) has no network and a python3 that already
# holds a CUDA build of torch (2.11+cu130 there) with transformers, tokenizers, numpy. So the script installs no
# torch: it uses $PYTHON's. What that machine lacks travels in .gpu-carry/ (name it in the device tool's carry):
# the gliclass wheel (and any other wheel put in .gpu-carry/wheels, e.g. a newer transformers), installed with
# --target into $SITE rather than into the machine's environment, and the two cached corpora of the dev mix,
# gzipped. Both sides then run on the same torch and transformers: uniclass from src/ (PYTHONPATH), the official
# runner through a wrapper interpreter that sees $SITE but not uniclass. On a machine with network and without
# .gpu-carry, gliclass is pip-installed into $SITE, and a CUDA torch can be added with TORCH_SPEC (pip arguments,
# e.g. "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128").
#
# The uni-encoder runs without the bundled model's embedding prior (--no-prior; the prior needs the 88 MB MiniLM
# package, and the official package cannot run it either): all three benchmarks time the GLiClass network alone.
#
# Environment: DEVICE (cuda), PYTHON (python3), THREADS (8; tokenisation and CPU-side work), CARRY (.gpu-carry),
# SITE (/tmp/uniclass-gpu-site), GLICLASS_SPEC (gliclass==0.1.21), EXTRA_WHEELS (more specs for --fetch),
# LABELS_PRECISION (fp32), EFFICIENCY_PRECISION (bf16 on cuda, fp32 on the CPU), PRECISIONS (official fast-mode
# rows; default: the device's, bf16,fp16 on cuda), TORCH_SPEC (see above).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0 FETCH=0 OUT_ARG=""
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --fetch) FETCH=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "gpu_speed.sh: unknown option $arg" >&2; exit 2 ;;
    *) OUT_ARG="$arg" ;;
  esac
done
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
CARRY="${CARRY:-.gpu-carry}"
SITE="${SITE:-/tmp/uniclass-gpu-site}"
GLICLASS_SPEC="${GLICLASS_SPEC:-gliclass==0.1.21}"
THREADS="${THREADS:-8}"
CORPORA=(rotten_tomatoes bbc_news)
say() { echo "gpu_speed: $*" >&2; }

# ---------------------------------------------------------------- --fetch: prepare what the offline machine lacks
if [ "$FETCH" = 1 ]; then
  mkdir -p "$CARRY/wheels" "$CARRY/cache"
  # shellcheck disable=SC2086
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$CARRY/wheels" "$GLICLASS_SPEC" ${EXTRA_WHEELS:-}
  cache="${UNICLASS_CACHE:-$HOME/.cache/uniclass}"
  for name in "${CORPORA[@]}"; do
    if [ ! -f "$cache/$name.jsonl" ]; then
      PYTHONPATH="$PWD/src" "$PYTHON" -m uniclass.cli data fetch "$name" >&2
    fi
    gzip -9c "$cache/$name.jsonl" > "$CARRY/cache/$name.jsonl.gz"
    cp "$cache/$name.meta.json" "$CARRY/cache/"
  done
  exclude="$(git rev-parse --git-path info/exclude)"
  grep -qxF "/$CARRY/" "$exclude" 2>/dev/null || echo "/$CARRY/" >> "$exclude"
  du -sh "$CARRY" >&2
  say "ready: run the benchmarks with carry [\"$CARRY\"] (it counts towards the 64 MiB working tree)"
  exit 0
fi

# ---------------------------------------------------------------- install (into $SITE only) and check
OUT="${OUT_ARG:-${OUT:-benchmarks/results/gpu}}"
mkdir -p "$OUT" "$SITE"
OUT="$(cd "$OUT" && pwd)"
PYTHON_ABS="$(command -v "$PYTHON")"
if [ -n "${TORCH_SPEC:-}" ]; then
  say "installing torch: $TORCH_SPEC"
  # shellcheck disable=SC2086
  "$PYTHON_ABS" -m pip install --quiet --target "$SITE" $TORCH_SPEC
fi
if compgen -G "$CARRY/wheels/*.whl" > /dev/null; then
  say "installing the carried wheels: $(cd "$CARRY/wheels" && echo *.whl)"
  "$PYTHON_ABS" -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target "$SITE" "$CARRY"/wheels/*.whl
elif ! PYTHONPATH="$SITE" "$PYTHON_ABS" -c "import gliclass" 2> /dev/null; then
  say "installing $GLICLASS_SPEC from the package index"
  "$PYTHON_ABS" -m pip install --quiet --no-deps --target "$SITE" "$GLICLASS_SPEC"
fi
if compgen -G "$CARRY/cache/*.jsonl.gz" > /dev/null; then
  export UNICLASS_CACHE="${SITE}-cache"
  mkdir -p "$UNICLASS_CACHE"
  for name in "${CORPORA[@]}"; do
    gunzip -c "$CARRY/cache/$name.jsonl.gz" > "$UNICLASS_CACHE/$name.jsonl"
    cp "$CARRY/cache/$name.meta.json" "$UNICLASS_CACHE/"
  done
fi
# the official side: the same interpreter and $SITE, but not uniclass (bench official drops PYTHONPATH)
OFFICIAL_PYTHON="$SITE/official-python"
printf '#!/bin/sh\nPYTHONPATH=%q exec %q "$@"\n' "$SITE" "$PYTHON_ABS" > "$OFFICIAL_PYTHON"
chmod +x "$OFFICIAL_PYTHON"
export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
"$PYTHON_ABS" - "$DEVICE" <<'EOF' | tee "$OUT/headlines.txt"
import sys, torch, transformers, gliclass, uniclass
device = sys.argv[1]
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), transformers "
      f"{transformers.__version__}, gliclass {getattr(gliclass, '__version__', '?')}, uniclass from {uniclass.__file__}")
if device == "cuda":
    if not torch.cuda.is_available():
        sys.exit("gpu_speed: DEVICE=cuda but torch sees no GPU (DEVICE=cpu for a dry run)")
    print(f"GPU: {torch.cuda.get_device_name()} (capability {torch.cuda.get_device_capability()}, "
          f"bf16 {torch.cuda.is_bf16_supported()})")
EOF

# ---------------------------------------------------------------- the three benchmarks
UC=("$PYTHON_ABS" -m uniclass.cli bench)
COMMON=(--device "$DEVICE" --threads "$THREADS" --batch-size 32 --out "$OUT")
[ "$QUICK" = 1 ] && COMMON+=(--quick)
if [ "$DEVICE" = cpu ]; then EFF_PRECISION="${EFFICIENCY_PRECISION:-fp32}"; else EFF_PRECISION="${EFFICIENCY_PRECISION:-bf16}"; fi
OFFICIAL_EXTRA=()
[ -n "${PRECISIONS:-}" ] && OFFICIAL_EXTRA+=(--precisions "$PRECISIONS")

start=$SECONDS
say "1/3 bench official on $DEVICE"
"${UC[@]}" official "${COMMON[@]}" --official-python "$OFFICIAL_PYTHON" "${OFFICIAL_EXTRA[@]}" | tee -a "$OUT/headlines.txt"
say "2/3 bench labels on $DEVICE (uni-encoder, ${LABELS_PRECISION:-fp32})"
"${UC[@]}" labels "${COMMON[@]}" --models uni --no-prior --precision "${LABELS_PRECISION:-fp32}" | tee -a "$OUT/headlines.txt"
say "3/3 bench efficiency on $DEVICE ($EFF_PRECISION)"
"${UC[@]}" efficiency "${COMMON[@]}" --precision "$EFF_PRECISION" | tee -a "$OUT/headlines.txt"
say "done in $((SECONDS - start)) s; results in $OUT"
