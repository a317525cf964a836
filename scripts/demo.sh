#!/usr/bin/env bash
# `make demo`: the built-in procedural scene -> train -> orbit render -> demo/report.html.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/src/app/nerfedit"
DEMO="$ROOT/demo"
BUDGET="${DEMO_BUDGET:-180}"
rm -rf "$DEMO"
mkdir -p "$DEMO"
echo "== 1/4 procedural scene (100 views, 128x128, exact depth and labels) =="
"$BIN" scene make --out "$DEMO/scene" --views 100 --width 128 --height 128
echo "== 2/4 train the hash-grid field (${BUDGET} s budget) =="
"$BIN" train --data "$DEMO/scene" --out "$DEMO/run" --config "$ROOT/configs/procedural.json" --time-budget "$BUDGET"
echo "== 3/4 render an orbit with depth =="
"$BIN" render "$DEMO/run" --out "$DEMO/orbit" --orbit 36 --depth
echo "== 4/4 report =="
"$BIN" report "$DEMO/run" --out "$DEMO/report.html" --orbit "$DEMO/orbit" --title "nerfedit demo: procedural scene"
echo "open $DEMO/report.html"
