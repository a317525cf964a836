#!/usr/bin/env bash
# `make demo`: the built-in procedural scene -> a hash-grid field with a distilled feature head -> text selection,
# delete / recolour / move against the generator's ground truth -> orbit render -> demo/report.html.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
BIN="$BUILD/src/app/nerfedit"
DEMO="$ROOT/demo"
# Trained by steps, not seconds, so the demo looks the same on every machine (a time budget gave 25 dB and speckled
# objects on a VM 1.8x slower per step than another).
STEPS="${DEMO_STEPS:-1500}"
CLIP="${NERFEDIT_SMALL_CLIP:-${XDG_CACHE_HOME:-$HOME/.cache}/nerfedit/small_clip}"
rm -rf "$DEMO"
mkdir -p "$DEMO"
echo "== 1/5 procedural scene (100 views, 128x128, exact depth and labels) =="
"$BIN" scene make --out "$DEMO/scene" --views 100 --width 128 --height 128
echo "== 2/5 the text teacher: nerfedit's small CLIP ($CLIP) =="
# Reused when it is of this nerfedit's caption vocabulary (models2d/small_clip.h kSmallClipVocabularyVersion).
VOCABULARY=$(sed -n 's/^constexpr int kSmallClipVocabularyVersion = \([0-9]*\);/\1/p' "$ROOT/src/models2d/small_clip.h")
if grep -q "\"vocabulary_version\": $VOCABULARY\b" "$CLIP/small_clip_training.json" 2>/dev/null; then
  echo "found (delete it to retrain)"
else
  "$BIN" clip train --out "$CLIP" --minutes "${DEMO_CLIP_MINUTES:-9}"
fi
echo "== 3/5 dff: train the field and its feature head (${STEPS} steps), select each object by text, edit, measure =="
"$BUILD/dff_bench" --scene "$DEMO/scene" --teacher "$CLIP" --out "$DEMO/dff" --config "$ROOT/configs/demo_dff.json" \
  --steps "$STEPS" --overhead 0 --html "$DEMO/dff/edits.html" 2>&1 | grep -v '^train \[\|^teacher \['
echo "== 4/5 render an orbit with depth =="
"$BIN" render "$DEMO/dff/dff" --out "$DEMO/orbit" --orbit 36 --depth
echo "== 5/5 report =="
"$BIN" report "$DEMO/dff/dff" --out "$DEMO/report.html" --orbit "$DEMO/orbit" --extra "$DEMO/dff/edits.html" \
  --title "nerfedit demo: procedural scene"
echo "open $DEMO/report.html"
