# nerfedit: `make demo` and `make test` do everything on a fresh Debian machine.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CUDA    ?= 0
# UNITY=1 (the default): each target compiles its sources 8 at a time as one translation unit - a clean build (CI,
# a fresh machine) takes less time; UNITY=0 for day-to-day work, where editing a file recompiles only that file.
UNITY   ?= 1
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DNERFEDIT_UNITY=$(if $(filter 1,$(UNITY)),ON,OFF)
ifeq ($(CUDA),1)
  # The CUDA build uses the LibTorch inside a PyTorch install.
  CMAKE_FLAGS += -DCMAKE_PREFIX_PATH=$(shell python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') -DNERFEDIT_CUDA=ON
endif

.PHONY: all setup configure build test demo clean bench fuzz test-asan

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 || (cat $(BUILD).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 1500

demo: build
	@scripts/demo.sh $(BUILD)

# The whole suite built with AddressSanitizer + UBSan (build-asan/); suppressions for third-party code only, each
# with its reason, in scripts/sanitizer.supp.
test-asan: setup
	@scripts/test_asan.sh

# libFuzzer on every parser of outside data (fuzz/): FUZZ_SECONDS per target (default 60); fails on any crash,
# leak, sanitizer report or timeout. Needs clang (installed here if missing).
fuzz:
	@NERFEDIT_EXTRA_PACKAGES="clang libclang-rt-14-dev libomp-dev" scripts/setup.sh
	@scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(BUILD).configure.log demo
