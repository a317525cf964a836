// Process-wide runtime set-up: torch thread count and device choice.
#pragma once
#include <c10/core/Device.h>

#include <string>

namespace nerfedit {

// Sets torch's intra-op threads to the machine's cores (or NERFEDIT_THREADS) once; returns the count.
int ConfigureThreads();

// `--deterministic`: one intra-op and one BLAS thread from now on, whatever ConfigureThreads chose before, so that
// sums run in one fixed order and a run (or a resumed run) repeats bit for bit.
void UseOneThread();

// "cpu", "cuda" or "auto" (cuda when available). Throws for cuda on a build/machine without it.
c10::Device ParseDevice(const std::string& name);

// Seconds since an arbitrary epoch (steady clock).
double NowSeconds();

// Peak resident memory of this process in MB (VmHWM), and the resident memory now (VmRSS).
double PeakMemoryMb();
double ResidentMemoryMb();

// Where nerfedit caches what it trains once per machine (the small CLIPs, the AdaIN network): $override_env when it
// is set and non-empty, else $XDG_CACHE_HOME/nerfedit/NAME, else ~/.cache/nerfedit/NAME.
std::string CacheDir(const std::string& name, const char* override_env = nullptr);

}  // namespace nerfedit
