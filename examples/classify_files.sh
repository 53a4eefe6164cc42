#!/usr/bin/env bash
# Batch classification of a file with the command line: JSONL in, JSONL out, then resuming an interrupted run.
# CSV and Parquet work the same way by extension (pip install "uniclass[io]").
# Run: bash examples/classify_files.sh [WORK_DIR]
set -euo pipefail
cd "${1:-.}"

cat > reviews.jsonl <<'JSONL'
{"id": 1, "body": "I loved the battery life"}
{"id": 2, "body": "The screen cracked in a week"}
{"id": 3, "body": "Terrible service, I want a refund"}
{"id": 4, "body": "Fast delivery and a great price"}
JSONL
printf 'positive\nnegative\n' > labels.txt

# --text-column: the field holding the text; results are flushed --chunk-size rows at a time.
# Each result keeps the row's other fields (here id) next to "text" and "labels"; a summary goes to stderr.
uniclass classify --input reviews.jsonl --text-column body --labels-file labels.txt --single-label \
    --output scored.jsonl --chunk-size 2
cat scored.jsonl

# Pretend the run was killed after the first chunk; --resume keeps those rows and classifies the rest.
head -n 2 scored.jsonl > resumed.jsonl
uniclass classify --input reviews.jsonl --text-column body --labels-file labels.txt --single-label \
    --output resumed.jsonl --resume --chunk-size 2
cmp scored.jsonl resumed.jsonl && echo "resumed output is identical"
