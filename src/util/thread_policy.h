// nerfedit's CPU threading policy: which thread pool serves which work. Decided here and only here.
//
// Two pools share the cores of a LibTorch process. OpenBLAS' own pthreads run every float32 matrix product (Linear,
// matmul, bmm and their backward); torch's intra-op OpenMP threads run element-wise ops, reductions, softmax,
// LayerNorm, oneDNN's convolutions and nerfedit's at::parallel_for kernels. Each pool's idle threads busy-wait for a
// while before they sleep, so a process that alternates between the pools pays for the other pool's spinning.
// Which pool should have the cores therefore depends on where a piece of work spends its time:
//
//   ThreadWork::kKernels  at::parallel_for kernels (hash encoding, compositing) and many-row narrow MLPs (the hash-grid
//                         field's 64-wide nets): torch gets the cores, BLAS one thread. The process default, set by
//                         ConfigureThreads().
//   ThreadWork::kMatmul   matrix products (CLIP / DINO transformer towers, NeRF's 8x256 MLP): BLAS gets the cores,
//                         torch one thread. Even ViT-B/32 at batch 1 (50 x 768 x 768 per product) gains (131 -> 87 ms
//                         on 2 cores); only products below kMatmulMinMacs multiply-adds keep the default.
//   ThreadWork::kConv     oneDNN convolutions (VGG-19): torch gets the cores (oneDNN runs on them), BLAS one thread.
//
// The figures behind the table (every workload under each setting, and under the policy) are in the README's
// "Threads" paragraph and bench/results/thread_policy-2026-11-30.txt; the peer comparison in bench/dense_cpu.
//
// Use: a network's forward opens a ThreadPolicyScope and passes its input and output through Input() / Output();
// the forward then runs under the policy, and so does the network's part of a later backward, even when one
// backward() spans several kinds of work (a CLIP loss on rendered pixels: the CLIP tower's backward under kMatmul,
// the renderer's kernels under the default again). Code that measured its own setting pins it with ScopedThreads;
// policy scopes inside a pinned scope (same thread) do nothing.
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <cstdint>
#include <vector>

namespace nerfedit {

// Sets OpenBLAS' thread count; returns false (and does nothing) when nerfedit is not linked with OpenBLAS.
bool SetBlasThreads(int threads);
int GetBlasThreads();  // 1 when nerfedit is not linked with OpenBLAS

struct ThreadSetting {
  int blas = 1;   // OpenBLAS threads (process-wide)
  int torch = 1;  // torch intra-op threads (at::set_num_threads: this thread's OpenMP pool)
  bool operator==(const ThreadSetting& o) const { return blas == o.blas && torch == o.torch; }
  bool operator!=(const ThreadSetting& o) const { return !(*this == o); }
};
ThreadSetting CurrentThreads();
void ApplyThreads(const ThreadSetting& setting);  // changes only what differs (at::set_num_threads is not free)

enum class ThreadWork { kKernels, kMatmul, kConv };

// Products of at least this many multiply-adds (rows x in x out) go to all BLAS threads under kMatmul.
constexpr double kMatmulMinMacs = 1e6;

// The policy's table for `cores` cores (ConfigureThreads' count); `macs` = multiply-adds of the work's typical
// matrix product (kMatmul only).
ThreadSetting PolicyThreads(ThreadWork work, double macs, int cores);

// Forward-and-backward scope of a network's threads; see the header comment. Inactive (all no-ops) inside a pinned
// scope or when the policy's setting is the current one.
class ThreadPolicyScope {
 public:
  explicit ThreadPolicyScope(ThreadWork work, double macs = 1e30);
  ~ThreadPolicyScope();
  ThreadPolicyScope(const ThreadPolicyScope&) = delete;
  ThreadPolicyScope& operator=(const ThreadPolicyScope&) = delete;

  // Identities for autograd's sake: the gradient entering Output's tensors switches to the policy, the gradient
  // leaving through Input's tensors (or the end of backward(), when no input needs a gradient) switches back.
  at::Tensor Input(const at::Tensor& x) const;
  at::Tensor Output(const at::Tensor& y) const;
  std::vector<at::Tensor> Output(const std::vector<at::Tensor>& ys) const;

  bool active() const { return active_; }
  const ThreadSetting& setting() const { return setting_; }

 private:
  bool active_ = false;
  ThreadSetting setting_, saved_;
  c10::intrusive_ptr<torch::CustomClassHolder> region_;  // shared by Input's and Output's backward nodes
};

// Explicit threads for a scope (code that measured its own, benches), restored afterwards; policy scopes and
// backward switches inside it on this thread do nothing.
class ScopedThreads {
 public:
  ScopedThreads(int blas, int torch);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  ThreadSetting saved_;
};

// BLAS threads pinned for a scope, torch's left as they are (ScopedThreads with the current torch count).
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads) : threads_(threads, CurrentThreads().torch) {}

 private:
  ScopedThreads threads_;
};

bool ThreadsPinned();  // inside a ScopedThreads / ScopedBlasThreads on this thread

}  // namespace nerfedit
