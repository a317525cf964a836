#!/usr/bin/env bash
# `make test-asan`: configures build-asan with NERFEDIT_SANITIZE=ON (AddressSanitizer + UBSan, no tcmalloc), builds
# the whole suite and runs it under CTest. LibTorch itself is not instrumented; reports from inside it are
# suppressed only where scripts/lsan.supp says why. Env: ASAN_BUILD (build-asan), ASAN_TESTS (a ctest -R regex),
# ASAN_LAYERS (a NERFEDIT_LAYERS subset, e.g. "util;data;render;fields;eval;models2d;edit;engine"), ASAN_UNITY (ON:
# unity batches as `make test` builds; OFF for day-to-day work).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${ASAN_BUILD:-$ROOT/build-asan}"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNERFEDIT_SANITIZE=ON \
      -DNERFEDIT_UNITY="${ASAN_UNITY:-ON}" \
      ${ASAN_LAYERS:+-DNERFEDIT_LAYERS="$ASAN_LAYERS"} > "$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$BUILD" && ctest --output-on-failure --timeout 3000 ${ASAN_TESTS:+-R "$ASAN_TESTS"}
