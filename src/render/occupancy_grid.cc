#include "render/occupancy_grid.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>
#include <cmath>
#include <random>

#include "util/error.h"

namespace nerfedit {

OccupancyGrid::OccupancyGrid(const at::Tensor& aabb, OccupancyGridOptions options)
    : aabb_(aabb.detach().to(at::kCPU, at::kFloat).reshape({2, 3}).contiguous()), options_(options) {
  const int64_t res = options_.resolution();
  NE_CHECK(res >= 1 && res <= 1024, "occupancy grid resolution must be in [1,1024], got ", res);
  density_ = at::zeros({res * res * res}, at::kFloat);
  occupied_ = at::ones({res * res * res}, at::kBool);  // everything is occupied until the field says otherwise
}

void OccupancyGrid::MarkAllOccupied() { occupied_.fill_(true); }

void OccupancyGrid::LoadState(const at::Tensor& density, const at::Tensor& occupied) {
  NE_CHECK(density.numel() == density_.numel() && occupied.numel() == occupied_.numel(),
           "occupancy grid state has ", density.numel(), " cells, expected ", density_.numel());
  density_.copy_(density.reshape(-1));
  occupied_.copy_(occupied.reshape(-1));
}

double OccupancyGrid::OccupiedFraction() const { return occupied_.to(at::kFloat).mean().item<double>(); }

at::Tensor OccupancyGrid::CellIndexOf(const at::Tensor& positions) const {
  const int64_t res = options_.resolution();
  auto p = positions.detach().to(at::kCPU, at::kFloat);
  auto unit = (p - aabb_[0]) / (aabb_[1] - aabb_[0]);
  auto inside = ((unit >= 0) & (unit < 1)).all(1);
  auto cell = (unit * res).floor().to(at::kLong).clamp(0, res - 1);
  auto index = (cell.select(1, 0) * res + cell.select(1, 1)) * res + cell.select(1, 2);
  return at::where(inside, index, at::full_like(index, -1));
}

at::Tensor OccupancyGrid::OccupiedMask(const at::Tensor& positions) const {
  auto index = CellIndexOf(positions);
  auto valid = index >= 0;
  return valid & occupied_.index_select(0, index.clamp_min(0));
}

bool OccupancyGrid::IsOccupied(const at::Tensor& positions) const {
  return OccupiedMask(positions).any().item<bool>();
}

void OccupancyGrid::Update(int64_t step, double step_size,
                           const std::function<at::Tensor(const at::Tensor&)>& density_fn) {
  const int64_t res = options_.resolution();
  const int64_t cells = res * res * res;
  at::Tensor index;
  if (step < options_.warmup_steps()) {
    index = at::arange(cells, at::kLong);
  } else {
    // nerfacc's schedule: a quarter of the cells uniformly at random plus as many currently occupied ones.
    auto uniform = at::randint(cells, {cells / 4}, at::kLong);
    auto occupied_cells = at::nonzero(occupied_).reshape(-1);
    occupied_cells = occupied_cells.index_select(0, at::randperm(occupied_cells.size(0), at::kLong).slice(0, 0, cells / 4));
    index = at::cat({uniform, occupied_cells});
  }
  // Cell index -> (x, y, z) -> a random point inside the cell, in world coordinates.
  auto z = index % res, y = (index / res) % res, x = index / (res * res);
  auto unit = (at::stack({x, y, z}, 1).to(at::kFloat) + at::rand({index.size(0), 3})) / static_cast<float>(res);
  auto positions = aabb_[0] + unit * (aabb_[1] - aabb_[0]);
  at::Tensor density;
  {
    at::NoGradGuard no_grad;
    const int64_t chunk = 1 << 18;
    std::vector<at::Tensor> parts;
    for (int64_t b = 0; b < positions.size(0); b += chunk) {
      parts.push_back(density_fn(positions.slice(0, b, b + chunk)).detach().to(at::kCPU, at::kFloat).reshape(-1));
    }
    density = at::cat(parts);
  }
  auto value = density * static_cast<float>(step_size);
  auto decayed = density_.index_select(0, index) * static_cast<float>(options_.decay());
  // index_reduce/amax scatter is not in 1.13's C++ API for all dtypes: duplicates just race to the same max-ish value.
  density_.index_put_({index}, at::maximum(decayed, value));
  const float mean = density_.mean().item<float>();
  auto occupied = density_ > std::min(static_cast<float>(options_.threshold()), mean);
  // A field with no density anywhere (a fresh ReLU MLP) would empty the grid, and with no samples it could never
  // learn density again: keep marching everything until some cell has density.
  occupied_ = occupied.any().item<bool>() ? occupied : at::ones_like(occupied);
}

RaySamples OccupancyGrid::March(const RayBatch& rays, const at::Tensor& near, const at::Tensor& far,
                                const MarchOptions& options) const {
  const auto device = rays.origins.device();
  auto origins = rays.origins.detach().to(at::kCPU, at::kFloat).contiguous();
  auto directions = rays.directions.detach().to(at::kCPU, at::kFloat).contiguous();
  auto near_c = near.detach().to(at::kCPU, at::kFloat).contiguous();
  auto far_c = far.detach().to(at::kCPU, at::kFloat).contiguous();
  const int64_t num_rays = origins.size(0);
  const int64_t res = options_.resolution();
  const float step = static_cast<float>(options.step_size());
  const int64_t max_samples = options.max_samples_per_ray();
  NE_CHECK(step > 0, "march step_size must be > 0, got ", step);
  at::Tensor start_offset;
  if (!options.jitter()) {
    start_offset = at::zeros({num_rays}, at::kFloat);
  } else if (options.offsets().defined()) {
    NE_CHECK(options.offsets().numel() == num_rays, "march: ", options.offsets().numel(), " offsets for ", num_rays,
             " rays");
    start_offset = options.offsets().detach().to(at::kCPU, at::kFloat).contiguous();
  } else {
    start_offset = at::rand({num_rays}, at::kFloat);
  }

  const float* o = origins.data_ptr<float>();
  const float* d = directions.data_ptr<float>();
  const float* tn = near_c.data_ptr<float>();
  const float* tf = far_c.data_ptr<float>();
  const float* jitter = start_offset.data_ptr<float>();
  const bool* occ = occupied_.data_ptr<bool>();
  const float* box = aabb_.data_ptr<float>();
  float scale[3], inv_cell[3];
  for (int k = 0; k < 3; ++k) {
    scale[k] = res / (box[3 + k] - box[k]);
    inv_cell[k] = (box[3 + k] - box[k]) / res;
  }

  // Walks one ray; calls emit(t0, t1) for each sample inside an occupied cell. Empty cells are skipped in whole
  // steps up to the cell's exit, so the sample positions stay on the ray's step lattice.
  auto walk = [&](int64_t r, auto&& emit) {
    const float* orig = o + 3 * r;
    const float* dir = d + 3 * r;
    float t = tn[r] + jitter[r] * step;
    int64_t count = 0;
    while (t < tf[r] && count < max_samples) {
      const float tm = t + 0.5f * step;
      int64_t cell[3];
      bool inside = true;
      for (int k = 0; k < 3; ++k) {
        const float u = (orig[k] + dir[k] * tm - box[k]) * scale[k];
        cell[k] = static_cast<int64_t>(std::floor(u));
        inside &= cell[k] >= 0 && cell[k] < res;
      }
      if (inside && occ[(cell[0] * res + cell[1]) * res + cell[2]]) {
        emit(t, t + step);
        ++count;
        t += step;
        continue;
      }
      if (!inside) {
        t += step;
        continue;
      }
      // Distance to leave this cell along the ray, then round up to whole steps.
      float exit = 1e10f;
      for (int k = 0; k < 3; ++k) {
        if (std::fabs(dir[k]) < 1e-10f) continue;
        const float bound = box[k] + (dir[k] > 0 ? cell[k] + 1 : cell[k]) * inv_cell[k];
        exit = std::min(exit, (bound - orig[k]) / dir[k]);
      }
      const float skip = std::max(1.0f, std::ceil((exit - tm) / step));
      t += skip * step;
    }
  };

  // One walk per ray: each block of rays collects its samples' start distances, then the blocks are copied into
  // the packed layout (walking twice, to count and then to write, cost twice the marching).
  const int64_t num_blocks = std::max<int64_t>(1, std::min<int64_t>(num_rays / 64, 8 * at::get_num_threads()));
  std::vector<std::vector<float>> block_starts(num_blocks);
  auto counts = at::empty({num_rays}, at::kLong);
  int64_t* count_ptr = counts.data_ptr<int64_t>();
  auto block_begin = [&](int64_t b) { return num_rays * b / num_blocks; };
  at::parallel_for(0, num_blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      std::vector<float>& starts = block_starts[b];
      for (int64_t r = block_begin(b); r < block_begin(b + 1); ++r) {
        const size_t before = starts.size();
        walk(r, [&](float a, float) { starts.push_back(a); });
        count_ptr[r] = static_cast<int64_t>(starts.size() - before);
      }
    }
  });
  RaySamples samples;
  samples.offsets = at::cat({at::zeros({1}, at::kLong), at::cumsum(counts, 0)});
  const int64_t total = samples.offsets[num_rays].item<int64_t>();
  samples.t_starts = at::empty({total}, at::kFloat);
  samples.t_ends = at::empty({total}, at::kFloat);
  samples.ray_indices = at::empty({total}, at::kLong);
  const int64_t* off = samples.offsets.data_ptr<int64_t>();
  float* t0 = samples.t_starts.data_ptr<float>();
  float* t1 = samples.t_ends.data_ptr<float>();
  int64_t* ray_index = samples.ray_indices.data_ptr<int64_t>();
  at::parallel_for(0, num_blocks, 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const std::vector<float>& starts = block_starts[b];
      int64_t i = off[block_begin(b)];
      size_t k = 0;
      for (int64_t r = block_begin(b); r < block_begin(b + 1); ++r) {
        for (int64_t n = 0; n < count_ptr[r]; ++n, ++i, ++k) {
          t0[i] = starts[k];
          t1[i] = starts[k] + step;
          ray_index[i] = r;
        }
      }
    }
  });
  if (!device.is_cpu()) {
    samples.offsets = samples.offsets.to(device);
    samples.ray_indices = samples.ray_indices.to(device);
    samples.t_starts = samples.t_starts.to(device);
    samples.t_ends = samples.t_ends.to(device);
  }
  return samples;
}

}  // namespace nerfedit
