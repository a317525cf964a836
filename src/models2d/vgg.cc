#include "models2d/vgg.h"

#include <torch/torch.h>

#include <algorithm>
#include <iterator>

#include "models2d/safetensors.h"
#include "util/error.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {
// torchvision's configuration "E": channel counts, 0 = 2x2 max-pool.
const int kVgg19Layout[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0};
}  // namespace

Vgg19Impl::Vgg19Impl() {
  int64_t in = 3;
  for (int c : kVgg19Layout) {
    if (c == 0) {
      features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
    } else {
      features->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, c, 3).padding(1)));
      // In place, as torchvision's: the convolution's backward needs its input, not its output.
      features->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
      in = c;
    }
  }
  register_module("features", features);
}

Vgg19Features Vgg19Impl::forward(const at::Tensor& x, const std::string& last) {
  NE_CHECK(x.dim() == 4 && x.size(1) == 3, "VGG-19: input must be [B,3,H,W], got ", x.sizes());
  Vgg19Features out;
  // Indices of the ReLUs in torchvision's features Sequential, and the input size each needs (one pixel left).
  struct Tap {
    const char* name;
    int index;
    int64_t min_size;
    at::Tensor* tensor;
  };
  const Tap taps[] = {{"relu1_1", 1, 1, &out.relu1_1},   {"relu2_1", 6, 2, &out.relu2_1},
                      {"relu3_1", 11, 4, &out.relu3_1},  {"relu4_1", 20, 8, &out.relu4_1},
                      {"relu4_2", 22, 8, &out.relu4_2},  {"relu5_1", 29, 16, &out.relu5_1}};
  const Tap* end = std::find_if(std::begin(taps), std::end(taps), [&](const Tap& t) { return last == t.name; });
  NE_CHECK(end != std::end(taps), "VGG-19: unknown last layer \"", last,
           "\" (expected relu1_1, relu2_1, relu3_1, relu4_1, relu4_2 or relu5_1)");
  NE_CHECK(x.size(2) >= end->min_size && x.size(3) >= end->min_size, "VGG-19: input ", x.size(2), "x", x.size(3),
           " is too small for ", last, " (at least ", end->min_size, "x", end->min_size, ")");
  // Convolutions run on oneDNN, i.e. on torch's threads: the policy's kConv.
  ThreadPolicyScope threads(ThreadWork::kConv);
  at::Tensor h = threads.Input(x);
  const Tap* next = taps;
  int index = 0;
  for (auto it = features->begin(); it != features->end() && next <= end; ++it, ++index) {
    h = it->forward(h);
    if (index == next->index) *(next++)->tensor = h;
  }
  if (threads.active()) {
    std::vector<at::Tensor> computed;
    for (const Tap* t = taps; t < next; ++t) computed.push_back(*t->tensor);
    computed = threads.Output(computed);
    for (const Tap* t = taps; t < next; ++t) *t->tensor = computed[t - taps];
  }
  return out;
}

at::Tensor ImageNetNormalize(const at::Tensor& x) {
  at::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}, x.options()).view({1, 3, 1, 1});
  at::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}, x.options()).view({1, 3, 1, 1});
  return (x - mean) / std;
}

Vgg19 LoadVgg19(const std::string& safetensors_path) {
  Vgg19 model;
  LoadStateDictOptions options;
  options.rename = [](const std::string& n) { return n.rfind("classifier.", 0) == 0 ? std::string() : n; };
  LoadStateDict(*model, LoadSafetensors(safetensors_path), safetensors_path, options);
  model->eval();
  return model;
}

}  // namespace nerfedit
