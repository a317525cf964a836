#include "render/compositing.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "util/error.h"

namespace nerfedit {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void CheckInputs(const at::Tensor& sigmas, const at::Tensor& values, const RaySamples& samples) {
  const int64_t m = samples.num_samples();
  NE_CHECK(sigmas.dim() == 1 && sigmas.size(0) == m, "composite: sigmas must be [", m, "], got ", sigmas.sizes());
  NE_CHECK(values.dim() == 2 && values.size(0) == m, "composite: values must be [", m, ",C], got ", values.sizes());
  NE_CHECK(sigmas.scalar_type() == at::kFloat && values.scalar_type() == at::kFloat, "composite: float32 only");
}

// Forward kernel: one ray per iteration, front to back.
void CompositeForwardCpu(const float* sigma, const float* value, const float* t0, const float* t1, const int64_t* offsets,
                         int64_t num_rays, int64_t channels, float* out, float* opacity, float* depth, float* weights) {
  at::parallel_for(0, num_rays, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float transmittance = 1.f, acc = 0.f, dep = 0.f;
      float* o = out + r * channels;
      for (int64_t c = 0; c < channels; ++c) o[c] = 0.f;
      for (int64_t i = offsets[r]; i < offsets[r + 1]; ++i) {
        const float alpha = 1.f - std::exp(-sigma[i] * (t1[i] - t0[i]));
        const float w = transmittance * alpha;
        weights[i] = w;
        const float* v = value + i * channels;
        for (int64_t c = 0; c < channels; ++c) o[c] += w * v[c];
        acc += w;
        dep += w * 0.5f * (t0[i] + t1[i]);
        transmittance *= 1.f - alpha;
      }
      opacity[r] = acc;
      depth[r] = dep;
    }
  });
}

// Backward kernel. With q_k = g_out . v_k + g_opacity + g_depth * t_k (the upstream gradient of ray r's outputs
// with respect to w_k), dL/dsigma_i = delta_i * (T_{i+1} q_i - sum_{k>i} w_k q_k) and dL/dv_i = w_i g_out.
void CompositeBackwardCpu(const float* sigma, const float* value, const float* t0, const float* t1,
                          const int64_t* offsets, int64_t num_rays, int64_t channels, const float* g_out,
                          const float* g_opacity, const float* g_depth, float* g_sigma, float* g_value) {
  at::parallel_for(0, num_rays, 256, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* go = g_out + r * channels;
      auto q_of = [&](int64_t i) {
        const float* v = value + i * channels;
        float q = g_opacity[r] + g_depth[r] * 0.5f * (t0[i] + t1[i]);
        for (int64_t c = 0; c < channels; ++c) q += go[c] * v[c];
        return q;
      };
      // Pass 1: total sum_k w_k q_k.
      float transmittance = 1.f, total = 0.f;
      for (int64_t i = offsets[r]; i < offsets[r + 1]; ++i) {
        const float alpha = 1.f - std::exp(-sigma[i] * (t1[i] - t0[i]));
        total += transmittance * alpha * q_of(i);
        transmittance *= 1.f - alpha;
      }
      // Pass 2: gradients with the running prefix sum.
      transmittance = 1.f;
      float prefix = 0.f;
      for (int64_t i = offsets[r]; i < offsets[r + 1]; ++i) {
        const float delta = t1[i] - t0[i];
        const float alpha = 1.f - std::exp(-sigma[i] * delta);
        const float w = transmittance * alpha;
        const float q = q_of(i);
        prefix += w * q;
        const float next_transmittance = transmittance * (1.f - alpha);
        g_sigma[i] = delta * (next_transmittance * q - (total - prefix));
        float* gv = g_value + i * channels;
        for (int64_t c = 0; c < channels; ++c) gv[c] = w * go[c];
        transmittance = next_transmittance;
      }
    }
  });
}

class CompositeFunction : public torch::autograd::Function<CompositeFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& sigmas, const at::Tensor& values,
                               const at::Tensor& t_starts, const at::Tensor& t_ends, const at::Tensor& offsets) {
    const int64_t num_rays = offsets.size(0) - 1;
    const int64_t channels = values.size(1);
    auto sigma_c = sigmas.contiguous(), value_c = values.contiguous();
    auto t0 = t_starts.contiguous(), t1 = t_ends.contiguous(), off = offsets.contiguous();
    auto f32 = sigmas.options();
    auto out = at::empty({num_rays, channels}, f32);
    auto opacity = at::empty({num_rays}, f32);
    auto depth = at::empty({num_rays}, f32);
    auto weights = at::empty({sigmas.size(0)}, f32);
    CompositeForwardCpu(sigma_c.data_ptr<float>(), value_c.data_ptr<float>(), t0.data_ptr<float>(),
                        t1.data_ptr<float>(), off.data_ptr<int64_t>(), num_rays, channels, out.data_ptr<float>(),
                        opacity.data_ptr<float>(), depth.data_ptr<float>(), weights.data_ptr<float>());
    ctx->save_for_backward({sigma_c, value_c, t0, t1, off});
    ctx->mark_non_differentiable({weights});
    return {out, opacity, depth, weights};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& sigmas = saved[0];
    const auto& values = saved[1];
    const int64_t num_rays = saved[4].size(0) - 1;
    const int64_t channels = values.size(1);
    auto f32 = sigmas.options();
    auto g_out = grads[0].defined() ? grads[0].contiguous() : at::zeros({num_rays, channels}, f32);
    auto g_opacity = grads[1].defined() ? grads[1].contiguous() : at::zeros({num_rays}, f32);
    auto g_depth = grads[2].defined() ? grads[2].contiguous() : at::zeros({num_rays}, f32);
    auto g_sigma = at::empty_like(sigmas);
    auto g_value = at::empty_like(values);
    CompositeBackwardCpu(sigmas.data_ptr<float>(), values.data_ptr<float>(), saved[2].data_ptr<float>(),
                         saved[3].data_ptr<float>(), saved[4].data_ptr<int64_t>(), num_rays, channels,
                         g_out.data_ptr<float>(), g_opacity.data_ptr<float>(), g_depth.data_ptr<float>(),
                         g_sigma.data_ptr<float>(), g_value.data_ptr<float>());
    return {g_sigma, g_value, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

Composited CompositeAlongRays(const at::Tensor& sigmas, const at::Tensor& values, const RaySamples& samples) {
  CheckInputs(sigmas, values, samples);
  if (!sigmas.device().is_cpu()) {
    // CUDA kernel goes here (issue #5); until then the reference path runs on any device.
    return CompositeAlongRaysReference(sigmas, values, samples);
  }
  auto outs = CompositeFunction::apply(sigmas, values, samples.t_starts, samples.t_ends, samples.offsets);
  return {outs[0], outs[1], outs[2], outs[3]};
}

Composited CompositeAlongRaysReference(const at::Tensor& sigmas, const at::Tensor& values, const RaySamples& samples) {
  CheckInputs(sigmas, values, samples);
  const int64_t num_rays = samples.num_rays();
  const int64_t channels = values.size(1);
  auto counts = samples.offsets.slice(0, 1) - samples.offsets.slice(0, 0, -1);  // [R]
  const int64_t max_count = num_rays > 0 ? counts.max().item<int64_t>() : 0;
  // Position of each sample inside its ray, then scatter into dense [R, S] arrays padded with zero density.
  auto local = at::arange(samples.num_samples(), samples.offsets.options()) -
               samples.offsets.index_select(0, samples.ray_indices);
  auto flat = samples.ray_indices * max_count + local;
  auto delta = samples.t_ends - samples.t_starts;
  auto sigma_delta = at::zeros({num_rays * max_count}, sigmas.options()).index_put({flat}, sigmas * delta);
  sigma_delta = sigma_delta.view({num_rays, max_count});
  auto weights_dense = DenseCompositingWeights(sigma_delta);                   // [R,S]
  auto weights = weights_dense.reshape(-1).index_select(0, flat);              // [M]
  auto out = at::zeros({num_rays, channels}, values.options()).index_add(0, samples.ray_indices, weights.unsqueeze(1) * values);
  auto opacity = weights_dense.sum(1);
  auto depth = at::zeros({num_rays}, sigmas.options()).index_add(0, samples.ray_indices, weights * samples.midpoints());
  return {out, opacity, depth, weights.detach()};
}

at::Tensor DenseCompositingWeights(const at::Tensor& sigma_delta) {
  const int64_t s = sigma_delta.size(1);
  const at::Tensor before = at::cat({at::zeros({sigma_delta.size(0), 1}, sigma_delta.options()),
                                     at::cumsum(sigma_delta.slice(1, 0, s - 1), 1)}, 1);
  return at::exp(-before) * (1 - at::exp(-sigma_delta));
}

at::Tensor AddBackground(const Composited& composited, const at::Tensor& background) {
  auto bg = background.to(composited.values.device(), at::kFloat);
  return composited.values + (1 - composited.opacity).unsqueeze(1) * bg;
}

Composited CompositeOver(const Composited& front, const Composited& back) {
  const at::Tensor through = (1 - front.opacity).unsqueeze(1);  // [R,1] transmittance past the front layer
  Composited out;
  out.values = front.values + through * back.values;
  out.opacity = 1 - (1 - front.opacity) * (1 - back.opacity);
  out.depth = front.depth + through.squeeze(1) * back.depth;
  return out;
}

at::Tensor RaySamples::Positions(const at::Tensor& origins, const at::Tensor& directions) const {
  auto t = midpoints().unsqueeze(1);
  return origins.index_select(0, ray_indices) + directions.index_select(0, ray_indices) * t;
}

RaySamples RaySamples::FromDenseEdges(const at::Tensor& edges) {
  const int64_t num_rays = edges.size(0), per_ray = edges.size(1) - 1;
  auto long_opts = edges.options().dtype(at::kLong);
  RaySamples s;
  s.offsets = at::arange(num_rays + 1, long_opts) * per_ray;
  s.ray_indices = at::arange(num_rays, long_opts).repeat_interleave(per_ray);
  s.t_starts = edges.slice(1, 0, per_ray).reshape(-1).contiguous();
  s.t_ends = edges.slice(1, 1).reshape(-1).contiguous();
  return s;
}

}  // namespace nerfedit
