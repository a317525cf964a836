#!/usr/bin/env bash
# Installs the Debian packages nerfedit needs, only those that are missing. Safe to run repeatedly.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU); a CUDA build uses the LibTorch inside a PyTorch install instead
  libgloo-dev             # Gloo's headers, which c10d's ProcessGroupGloo.hpp includes: data-parallel training
  libopenblas-dev         # fast BLAS for LibTorch: without it matmuls are several times slower
  libgoogle-perftools-dev # tcmalloc_minimal: LibTorch's many small allocations are 5-30x slower without it
  nlohmann-json3-dev libstb-dev libcpp-httplib-dev libcli11-dev chromium  # chromium: headless browser test of the viewer
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
)
[ "${NERFEDIT_EXTRA_PACKAGES:-}" ] && packages+=(${NERFEDIT_EXTRA_PACKAGES})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "nerfedit: installing missing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
