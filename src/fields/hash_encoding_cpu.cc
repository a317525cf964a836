// The hand-written CPU kernel of the hash encoding: raw pointers, at::parallel_for, no per-element tensor ops.
#include <ATen/Parallel.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "fields/hash_encoding.h"
#include "util/error.h"

namespace nerfedit {
namespace {

// One level's constants, read in the inner loop.
struct Level {
  float scale;          // N_l as float
  uint32_t resolution;  // N_l
  uint32_t mask;        // T_l - 1 (hashed levels: T_l is a power of two)
  uint32_t stride_y, stride_z;  // dense levels: N_l + 1, (N_l + 1)^2
  bool dense;
  int64_t offset;       // first row
};

std::vector<Level> MakeLevels(const HashGridLayout& layout) {
  std::vector<Level> levels(layout.num_levels());
  for (int64_t l = 0; l < layout.num_levels(); ++l) {
    const auto n = static_cast<uint32_t>(layout.resolution[l]);
    NE_CHECK(layout.dense[l] || (layout.size[l] & (layout.size[l] - 1)) == 0, "hash encoding: hashed level ", l,
             " has ", layout.size[l], " rows, expected a power of two");
    levels[l] = {static_cast<float>(n), n, static_cast<uint32_t>(layout.size[l] - 1), n + 1, (n + 1) * (n + 1),
                 layout.dense[l] != 0, layout.offset[l]};
  }
  return levels;
}

// A point's cell in one level: the 8 corner rows (global), their trilinear weights, and the per-axis weights.
// Corner c is offset by (c & 1, c >> 1 & 1, c >> 2 & 1).
struct Cell {
  int64_t row[8];
  float weight[8];
  float w0[3], w1[3];  // weight of the lower / upper corner along each axis (1 - frac, frac)
};

// NaN maps to 0 (a NaN cast to an index would read outside the table); otherwise clamp to [0,1].
inline float Clamp01(float v) { return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; }

// Same rows as HashGridIndex and the same float arithmetic as ForwardReference ((wx * wy) * wz), so the two agree to
// rounding; the corner rows come from the base corner by additions instead of 8 full index computations.
inline void LocateCell(const float* p, const Level& level, Cell* cell) {
  uint32_t base[3];
  for (int d = 0; d < 3; ++d) {
    const float scaled = Clamp01(p[d]) * level.scale;
    // Truncation is floor here (scaled >= 0) and, unlike std::floor without SSE4.1, is not a libm call.
    const uint32_t lower = std::min(static_cast<uint32_t>(scaled), level.resolution - 1);  // x = 1: last cell
    base[d] = lower;
    cell->w1[d] = scaled - static_cast<float>(lower);
    cell->w0[d] = 1.0f - cell->w1[d];
  }
  if (level.dense) {
    const uint32_t i0 = base[0] + base[1] * level.stride_y + base[2] * level.stride_z;
    for (int c = 0; c < 8; ++c) {
      cell->row[c] = level.offset + (i0 + (c & 1) + (c & 2 ? level.stride_y : 0) + (c & 4 ? level.stride_z : 0));
    }
  } else {
    // (y + 1) * prime == y * prime + prime in wrapping uint32 arithmetic.
    const uint32_t hx[2] = {base[0], base[0] + 1u};
    const uint32_t hy[2] = {base[1] * 2654435761u, base[1] * 2654435761u + 2654435761u};
    const uint32_t hz[2] = {base[2] * 805459861u, base[2] * 805459861u + 805459861u};
    for (int c = 0; c < 8; ++c) {
      cell->row[c] = level.offset + ((hx[c & 1] ^ hy[(c >> 1) & 1] ^ hz[(c >> 2) & 1]) & level.mask);
    }
  }
  const float wxy[4] = {cell->w0[0] * cell->w0[1], cell->w1[0] * cell->w0[1], cell->w0[0] * cell->w1[1],
                        cell->w1[0] * cell->w1[1]};
  for (int c = 0; c < 8; ++c) cell->weight[c] = wxy[c & 3] * (c & 4 ? cell->w1[2] : cell->w0[2]);
}

inline float CornerWeight(const Cell& cell, int c) { return cell.weight[c]; }

// Points are processed in blocks: first every cell of the block is located and its 8 corner rows prefetched, then
// the block is accumulated. The fine levels' rows are cache misses; issuing a block's misses together overlaps their
// latency instead of paying it one corner at a time.
constexpr int64_t kBlock = 32;

inline void PrefetchCell(const float* base, const Cell& cell, int64_t f_count, bool for_write) {
  for (int c = 0; c < 8; ++c) {
    if (for_write) {
      __builtin_prefetch(base + cell.row[c] * f_count, 1, 1);
    } else {
      __builtin_prefetch(base + cell.row[c] * f_count, 0, 1);
    }
  }
}

// F is a template parameter for the common widths so the feature loop unrolls; 0 means "runtime width".
template <int kF>
void ForwardLoop(const float* positions, const float* table, float* out, int64_t n, const std::vector<Level>& levels,
                 int64_t runtime_f) {
  const int64_t f_count = kF > 0 ? kF : runtime_f;
  const int64_t num_levels = static_cast<int64_t>(levels.size());
  const int64_t out_stride = num_levels * f_count;
  // Levels outermost inside a block: one level's table region stays hot in cache across the block.
  at::parallel_for(0, (n + kBlock - 1) / kBlock, 32, [&](int64_t block_begin, int64_t block_end) {
    Cell cells[kBlock];
    for (int64_t b = block_begin; b < block_end; ++b) {
      const int64_t begin = b * kBlock, count = std::min(n - begin, kBlock);
      for (int64_t l = 0; l < num_levels; ++l) {
        for (int64_t j = 0; j < count; ++j) {
          LocateCell(positions + 3 * (begin + j), levels[l], &cells[j]);
          PrefetchCell(table, cells[j], f_count, false);
        }
        for (int64_t j = 0; j < count; ++j) {
          const Cell& cell = cells[j];
          float acc[kF > 0 ? kF : 1] = {};
          float* dst = out + (begin + j) * out_stride + l * f_count;
          for (int c = 0; c < 8; ++c) {
            const float w = CornerWeight(cell, c);
            const float* src = table + cell.row[c] * f_count;
            if (kF > 0) {
              for (int f = 0; f < kF; ++f) acc[f] += w * src[f];
            } else {
              for (int64_t f = 0; f < f_count; ++f) dst[f] += w * src[f];  // out was zero-filled for this path
            }
          }
          if (kF > 0) {
            for (int f = 0; f < kF; ++f) dst[f] = acc[f];
          }
        }
      }
    }
  });
}

template <int kF>
void TableGradLoop(const float* positions, const float* grad_by_level, float* grad_table, int64_t n,
                   const std::vector<Level>& levels, int64_t runtime_f) {
  const int64_t f_count = kF > 0 ? kF : runtime_f;
  const int64_t num_levels = static_cast<int64_t>(levels.size());
  // Race-free: worker t owns levels t, t+T, t+2T, ... (round-robin, so the cheap dense coarse levels and the
  // cache-missing hashed fine levels spread evenly) and writes only those levels' table rows.
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), num_levels));
  at::parallel_for(0, workers, 1, [&](int64_t worker_begin, int64_t worker_end) {
    Cell cells[kBlock];
    for (int64_t t = worker_begin; t < worker_end; ++t) {
      for (int64_t l = t; l < num_levels; l += workers) {
        const float* g = grad_by_level + l * n * f_count;  // [N,F] slice of level l
        for (int64_t begin = 0; begin < n; begin += kBlock) {
          const int64_t count = std::min(n - begin, kBlock);
          for (int64_t j = 0; j < count; ++j) {
            LocateCell(positions + 3 * (begin + j), levels[l], &cells[j]);
            PrefetchCell(grad_table, cells[j], f_count, true);
          }
          for (int64_t j = 0; j < count; ++j) {
            const Cell& cell = cells[j];
            const float* gi = g + (begin + j) * f_count;
            for (int c = 0; c < 8; ++c) {
              const float w = CornerWeight(cell, c);
              float* dst = grad_table + cell.row[c] * f_count;
              if (kF > 0) {
                for (int f = 0; f < kF; ++f) dst[f] += w * gi[f];
              } else {
                for (int64_t f = 0; f < f_count; ++f) dst[f] += w * gi[f];
              }
            }
          }
        }
      }
    }
  });
}

// d(out)/d(x_d) = N_l * sum_c (d w_c / d frac_d) * feature_c; zero where the input was clamped (as torch.clamp).
void PositionsGradLoop(const float* positions, const float* grad_output, const float* table, float* grad_positions,
                       int64_t n, const std::vector<Level>& levels, int64_t f_count) {
  const int64_t num_levels = static_cast<int64_t>(levels.size());
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    Cell cell;
    for (int64_t i = begin; i < end; ++i) {
      const float* p = positions + 3 * i;
      double grad[3] = {0.0, 0.0, 0.0};
      for (int64_t l = 0; l < num_levels; ++l) {
        LocateCell(p, levels[l], &cell);
        const float* g = grad_output + (i * num_levels + l) * f_count;
        for (int c = 0; c < 8; ++c) {
          const float* src = table + cell.row[c] * f_count;
          float dot = 0.0f;
          for (int64_t f = 0; f < f_count; ++f) dot += g[f] * src[f];
          const float wx = c & 1 ? cell.w1[0] : cell.w0[0], sx = c & 1 ? 1.0f : -1.0f;
          const float wy = c & 2 ? cell.w1[1] : cell.w0[1], sy = c & 2 ? 1.0f : -1.0f;
          const float wz = c & 4 ? cell.w1[2] : cell.w0[2], sz = c & 4 ? 1.0f : -1.0f;
          grad[0] += levels[l].scale * sx * wy * wz * dot;
          grad[1] += levels[l].scale * wx * sy * wz * dot;
          grad[2] += levels[l].scale * wx * wy * sz * dot;
        }
      }
      for (int d = 0; d < 3; ++d) {
        grad_positions[3 * i + d] = (p[d] >= 0.0f && p[d] <= 1.0f) ? static_cast<float>(grad[d]) : 0.0f;
      }
    }
  });
}

void CheckKernelInputs(const at::Tensor& positions, const at::Tensor& table, const HashGridLayout& layout) {
  NE_CHECK(positions.device().is_cpu() && table.device().is_cpu(), "hash encoding CPU kernel: tensors must be on CPU");
  NE_CHECK(positions.dim() == 2 && positions.size(1) == 3 && positions.scalar_type() == at::kFloat,
           "hash encoding CPU kernel: positions must be [N,3] f32, got ", positions.sizes(), " ",
           positions.scalar_type());
  NE_CHECK(table.dim() == 2 && table.size(0) == layout.total_rows() && table.scalar_type() == at::kFloat,
           "hash encoding CPU kernel: table must be [", layout.total_rows(), ",F] f32, got ", table.sizes(), " ",
           table.scalar_type());
}

}  // namespace

int HashEncodingCpuThreadsUsed() {
  std::vector<char> used(at::get_num_threads(), 0);
  at::parallel_for(0, 64 * int64_t(used.size()), 1, [&](int64_t, int64_t) { used[at::get_thread_num()] = 1; });
  return static_cast<int>(std::count(used.begin(), used.end(), 1));
}

at::Tensor HashEncodingForwardCpu(const at::Tensor& positions_in, const at::Tensor& table_in,
                                  const HashGridLayout& layout) {
  CheckKernelInputs(positions_in, table_in, layout);
  const at::Tensor positions = positions_in.contiguous();
  const at::Tensor table = table_in.contiguous();
  const int64_t n = positions.size(0), f = table.size(1), num_levels = layout.num_levels();
  const std::vector<Level> levels = MakeLevels(layout);
  const float* p = positions.data_ptr<float>();
  const float* t = table.data_ptr<float>();
  // The templated widths write every output element; the runtime-width path accumulates into zeros.
  const bool fixed_width = f == 1 || f == 2 || f == 4 || f == 8;
  at::Tensor out = fixed_width ? at::empty({n, num_levels * f}, table.options())
                               : at::zeros({n, num_levels * f}, table.options());
  float* o = out.data_ptr<float>();
  switch (f) {
    case 1: ForwardLoop<1>(p, t, o, n, levels, f); break;
    case 2: ForwardLoop<2>(p, t, o, n, levels, f); break;
    case 4: ForwardLoop<4>(p, t, o, n, levels, f); break;
    case 8: ForwardLoop<8>(p, t, o, n, levels, f); break;
    default: ForwardLoop<0>(p, t, o, n, levels, f); break;
  }
  return out;
}

std::pair<at::Tensor, at::Tensor> HashEncodingBackwardCpu(const at::Tensor& grad_output, const at::Tensor& positions_in,
                                                          const at::Tensor& table_in, const HashGridLayout& layout,
                                                          bool want_positions_grad) {
  CheckKernelInputs(positions_in, table_in, layout);
  const at::Tensor positions = positions_in.contiguous();
  const int64_t n = positions.size(0), f = table_in.size(1), num_levels = layout.num_levels();
  NE_CHECK(grad_output.dim() == 2 && grad_output.size(0) == n && grad_output.size(1) == num_levels * f,
           "hash encoding CPU kernel: grad_output is ", grad_output.sizes(), ", expected [", n, ",", num_levels * f,
           "]");
  const at::Tensor grad = grad_output.to(at::kFloat).contiguous();
  const std::vector<Level> levels = MakeLevels(layout);
  const float* p = positions.data_ptr<float>();

  // [L,N,F]: each level's worker then streams its own contiguous slice instead of striding through [N, L*F].
  const at::Tensor grad_by_level = grad.view({n, num_levels, f}).transpose(0, 1).contiguous();
  at::Tensor grad_table = at::zeros_like(table_in, at::MemoryFormat::Contiguous);
  const float* g = grad_by_level.data_ptr<float>();
  float* gt = grad_table.data_ptr<float>();
  switch (f) {
    case 1: TableGradLoop<1>(p, g, gt, n, levels, f); break;
    case 2: TableGradLoop<2>(p, g, gt, n, levels, f); break;
    case 4: TableGradLoop<4>(p, g, gt, n, levels, f); break;
    case 8: TableGradLoop<8>(p, g, gt, n, levels, f); break;
    default: TableGradLoop<0>(p, g, gt, n, levels, f); break;
  }

  at::Tensor grad_positions;
  if (want_positions_grad) {
    const at::Tensor table = table_in.contiguous();
    grad_positions = at::empty_like(positions);
    PositionsGradLoop(p, grad.data_ptr<float>(), table.data_ptr<float>(), grad_positions.data_ptr<float>(), n, levels,
                      f);
  }
  return {grad_table, grad_positions};
}

}  // namespace nerfedit
