// What a method sees of a data-parallel run: its rank among world_size processes that run the same method with the
// same seed, and the collectives that keep them one model (engine/distributed.h implements them over torch's c10d).
// Kept free of c10d headers: methods include this, only engine/distributed.cc includes c10d.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace nerfedit {

enum class ReduceOp { kSum, kMax, kMin };

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Averages the gradients of `parameters` over the ranks, in place. An undefined gradient counts as zeros (and is
  // defined afterwards) so that every rank runs the same collective whatever its batch touched.
  virtual void AverageGradients(const std::vector<at::Tensor>& parameters) = 0;
  // Reduces `values` (any dtype but bool, any device) element-wise over the ranks, in place.
  virtual void AllReduce(const at::Tensor& values, ReduceOp op) = 0;
  // Overwrites `tensors` (any dtype, bool included) with rank 0's values on every rank.
  virtual void Broadcast(const std::vector<at::Tensor>& tensors) = 0;
};

struct DataParallel {
  int rank = 0;
  int world_size = 1;
  Collective* collective = nullptr;  // null in one process; owned by whoever made it (engine/distributed.h)

  bool active() const { return world_size > 1; }
  // The rank's share [begin, end) of n items (pixels of a batch, training images): contiguous, in rank order, sizes
  // differing by at most one, so the shards of all ranks are exactly [0, n).
  std::pair<int64_t, int64_t> Shard(int64_t n) const;
  // Gradient reduction averages over ranks; a rank whose shard of n items holds m of them scales its mean loss by
  // this (world_size * m / n) so that the average is the mean loss of all n items, as one process computes it.
  double LossScale(int64_t n) const;
};

// Random draws that differ between ranks (a render of this rank's rays when the sampler draws its own jitter) taken
// from a stream of their own, seeded by (seed, step, rank); the default generators of `device` (and the CPU) get
// their state back at the end of the scope, so every rank's main stream - the batches, grid updates - stays equal.
// A no-op in one process, which keeps single-process runs exactly as they were.
class RankRandomScope {
 public:
  RankRandomScope(const DataParallel& parallel, int64_t seed, int64_t step, c10::Device device);
  ~RankRandomScope();
  RankRandomScope(const RankRandomScope&) = delete;
  RankRandomScope& operator=(const RankRandomScope&) = delete;

 private:
  std::vector<std::pair<at::Generator, at::Tensor>> saved_;  // generator, its state at the start
};

}  // namespace nerfedit
