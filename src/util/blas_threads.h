// The BLAS library's own thread pool (OpenBLAS when linked). ConfigureThreads() pins it to one thread because it
// would compete with torch's intra-op threads; code whose time goes into single large matrix products on one torch
// thread (the small CLIP's training) can lend it the cores for a scope.
#pragma once

namespace nerfedit {

// Sets OpenBLAS' thread count; returns false (and does nothing) when nerfedit is not linked with OpenBLAS.
bool SetBlasThreads(int threads);

// BLAS threads set for a scope, then back to one (ConfigureThreads' setting).
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads) { SetBlasThreads(threads); }
  ~ScopedBlasThreads() { SetBlasThreads(1); }
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;
};

}  // namespace nerfedit
