# Shared by the bench scripts: build once, locate the shared data, parse `summary:` lines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
NERFEDIT="$BUILD/src/app/nerfedit"
SHARED_DATA="${NERFEDIT_SHARED_DATA:-$ROOT/../shared/data}"

# NERFEDIT_SKIP_BUILD=1 uses the binary already in $BUILD (e.g. while other targets of the tree are being edited).
build_nerfedit() {
  if [ "${NERFEDIT_SKIP_BUILD:-0}" = 1 ] && [ -x "$NERFEDIT" ]; then return; fi
  make -C "$ROOT" build BUILD="$BUILD" >&2
}

# summary_value FILE KEY: the value of KEY in the last `summary:` line of FILE.
summary_value() {
  grep '^summary:' "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Prints the held-out PSNR curve of a run (curve.json) as "train_s psnr" lines.
print_curve() {
  grep -o '"psnr": [0-9.]*\|"train_s": [0-9.e+-]*' "$1/curve.json" | paste - - | \
    awk '{printf "  curve %s t=%.1fs psnr=%.2f dB\n", NR, $4, $2}'
}

# ensure_small_clip DIR: trains nerfedit's small CLIP into DIR unless DIR holds one of the current caption vocabulary
# (small_clip_training.json's vocabulary_version; models2d/small_clip.h kSmallClipVocabularyVersion).
ensure_small_clip() {
  local want
  want=$(sed -n 's/^constexpr int kSmallClipVocabularyVersion = \([0-9]*\);/\1/p' "$ROOT/src/models2d/small_clip.h")
  if grep -q "\"vocabulary_version\": $want\b" "$1/small_clip_training.json" 2>/dev/null; then return; fi
  echo "== training nerfedit's small CLIP into $1 (the default teacher; about 10 minutes) =="
  "$NERFEDIT" clip train --out "$1"
}
