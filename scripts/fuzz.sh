#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, clang + libFuzzer + ASan/UBSan, in build-fuzz/) and runs each for FUZZ_SECONDS
# (default 60) from its committed seed corpus (fuzz/corpus/NAME), with fuzz/json.dict for the JSON parsers. Fails
# on the first crash, leak, sanitizer report or timeout (30 s a unit: a hang, not a slow one - the checkpoint
# target's training step on a 37 KB seed took over 10 s under ASan on a loaded 2-core machine, 1.2 s alone); the
# input that did it is left in build-fuzz/findings/.
# FUZZ_TARGETS limits the run ("image npy ..."). New inputs the fuzzer finds go to build-fuzz/corpus/NAME, not into
# the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${FUZZ_BUILD:-$ROOT/build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
# Keep in sync with NERFEDIT_FUZZ_TARGETS in fuzz/CMakeLists.txt.
TARGETS="${FUZZ_TARGETS:-image npy transforms scene_json safetensors checkpoint run_json edit_list view_request}"
# The run-folder targets load runs through the nerf method; view_request needs app/viewer's parsing library. Only
# the libraries the chosen targets link are built.
LAYERS="util;data;render;fields;eval;models2d;edit;engine;methods;app"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DNERFEDIT_FUZZ=ON \
      -DNERFEDIT_LAYERS="$LAYERS" > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" --target $(for t in $TARGETS; do printf '%s_fuzz ' "$t"; done)
mkdir -p "$BUILD/findings"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in $TARGETS; do
  mkdir -p "$BUILD/corpus/$t"
  dict=()
  case "$t" in
    transforms|scene_json|safetensors|run_json|edit_list|view_request) dict=(-dict="$ROOT/fuzz/json.dict") ;;
  esac
  echo "== fuzz $t for ${SECONDS_EACH}s =="
  if ! "$BUILD/fuzz/${t}_fuzz" "$BUILD/corpus/$t" "$ROOT/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$SECONDS_EACH" \
        -timeout=30 -rss_limit_mb=4096 -max_len=65536 -artifact_prefix="$BUILD/findings/${t}-" -print_final_stats=1 \
        2>&1 | tail -n 25; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD/findings; each becomes a regression test)"; exit 1
fi
echo "fuzz: every target ran ${SECONDS_EACH}s clean: $TARGETS"
