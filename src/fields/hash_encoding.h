// Instant-NGP multiresolution hash encoding (Müller et al. 2022, Sec. 3).
// L levels of grids with resolutions growing geometrically from N_min to N_max; each level stores F features per
// vertex in a table of T_l rows. Coarse levels whose (N_l+1)^3 vertices fit in 2^log2_hashmap_size rows index densely
// (1:1), the others through the spatial hash (x*1 ^ y*2654435761 ^ z*805459861) mod T. A point's encoding is the
// trilinear interpolation of its cell's 8 corner features, concatenated over levels: [N, L*F].
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace nerfedit {

struct HashEncodingOptions {
  TORCH_ARG(int64_t, num_levels) = 16;          // L
  TORCH_ARG(int64_t, features_per_level) = 2;   // F
  TORCH_ARG(int64_t, log2_hashmap_size) = 19;   // T = 2^19 rows per hashed level
  TORCH_ARG(int64_t, base_resolution) = 16;     // N_min
  TORCH_ARG(int64_t, max_resolution) = 2048;    // N_max
  // "cpu_kernel": the hand-written at::parallel_for kernel (hash_encoding_cpu.cc) behind an autograd Function.
  // "reference": pure LibTorch ops differentiated by autograd; the ground truth for tests, and what runs on CUDA
  // tensors until the CUDA kernel exists.
  TORCH_ARG(std::string, implementation) = "cpu_kernel";

 public:  // TORCH_ARG leaves the access at private
  int64_t output_dim() const { return num_levels() * features_per_level(); }
  void Check() const;  // throws nerfedit::Error naming the option and its value
  static HashEncodingOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
  nlohmann::json ToJson() const;
};

// Where each level lives in the table, derived from the options (tiny: one entry per level).
struct HashGridLayout {
  std::vector<int64_t> resolution;  // N_l = floor(N_min * b^l), b = exp((ln N_max - ln N_min) / (L-1))
  std::vector<int64_t> offset;      // first table row of level l; offset[L] = total rows
  std::vector<int64_t> size;        // T_l rows of level l
  std::vector<int64_t> dense;       // 1: direct indexing x + y(N+1) + z(N+1)^2; 0: spatial hash mod T_l

  int64_t num_levels() const { return static_cast<int64_t>(resolution.size()); }
  int64_t total_rows() const { return offset.back(); }
  static HashGridLayout FromOptions(const HashEncodingOptions& options);
};

// Row of vertex (x, y, z) within a level's table (add layout.offset[level] for the global row). uint32 arithmetic
// wraps exactly as instant-ngp's hash does. Hashed levels have T = 2^log2_hashmap_size rows, so "mod T" is a mask
// (a division here would cost as much as the rest of the kernel).
inline uint32_t HashGridIndex(uint32_t x, uint32_t y, uint32_t z, uint32_t resolution, bool dense,
                              uint32_t size) {
  if (dense) {
    const uint32_t side = resolution + 1;
    return x + y * side + z * side * side;
  }
  return ((x * 1u) ^ (y * 2654435761u) ^ (z * 805459861u)) & (size - 1u);
}

// The CPU kernel (hash_encoding_cpu.cc). positions [N,3] f32 CPU (clamped to [0,1]); table [rows,F] f32.
at::Tensor HashEncodingForwardCpu(const at::Tensor& positions, const at::Tensor& table, const HashGridLayout& layout);
// grad_output [N, L*F]. Returns d/d(table) [rows,F] (parallel over levels: each thread owns whole level slices, so
// no two threads write the same row) and, when want_positions_grad, d/d(positions) [N,3] (parallel over points;
// zero where the input was clamped), else an undefined tensor.
std::pair<at::Tensor, at::Tensor> HashEncodingBackwardCpu(const at::Tensor& grad_output, const at::Tensor& positions,
                                                          const at::Tensor& table, const HashGridLayout& layout,
                                                          bool want_positions_grad);

// How many threads the kernel's at::parallel_for actually uses (at::get_num_threads() when the kernel was built with
// OpenMP, 1 otherwise). A test checks it so that losing the -fopenmp flag cannot silently halve the speed.
int HashEncodingCpuThreadsUsed();

class HashEncodingImpl : public torch::nn::Module {
 public:
  explicit HashEncodingImpl(HashEncodingOptions options = {});
  void reset();

  // positions [N,3] f32 in [0,1]^3 (outside values are clamped) -> [N, L*F] f32.
  // Differentiable w.r.t. the table and, when positions.requires_grad(), w.r.t. the positions.
  at::Tensor forward(const at::Tensor& positions);
  at::Tensor ForwardReference(const at::Tensor& positions);  // pure LibTorch, autograd-differentiated
  at::Tensor ForwardKernel(const at::Tensor& positions);     // CPU kernel behind HashEncodingFunction

  int64_t output_dim() const { return options.output_dim(); }
  const HashGridLayout& layout() const { return layout_; }

  HashEncodingOptions options;
  at::Tensor table;  // [layout.total_rows(), F] f32, init uniform(-1e-4, 1e-4) as in instant-ngp

 private:
  HashGridLayout layout_;
};
TORCH_MODULE(HashEncoding);

// The tables of every HashEncoding inside `module` (itself included): the rows a step mostly leaves untouched, which
// engine/sparse_adam.h updates sparsely.
std::vector<at::Tensor> HashEncodingTables(const torch::nn::Module& module);

}  // namespace nerfedit
