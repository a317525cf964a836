#include "models2d/vgg.h"

#include <torch/torch.h>

#include "models2d/safetensors.h"
#include "util/error.h"

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
      features->push_back(torch::nn::ReLU());
      in = c;
    }
  }
  register_module("features", features);
}

Vgg19Features Vgg19Impl::forward(const at::Tensor& x) {
  NE_CHECK(x.dim() == 4 && x.size(1) == 3, "VGG-19: input must be [B,3,H,W], got ", x.sizes());
  NE_CHECK(x.size(2) >= 16 && x.size(3) >= 16, "VGG-19: input ", x.size(2), "x", x.size(3),
           " is too small for relu5_1 (at least 16x16)");
  Vgg19Features out;
  // Indices of the ReLUs in torchvision's features Sequential.
  const std::pair<int, at::Tensor*> taps[] = {{1, &out.relu1_1},  {6, &out.relu2_1},  {11, &out.relu3_1},
                                              {20, &out.relu4_1}, {22, &out.relu4_2}, {29, &out.relu5_1}};
  at::Tensor h = x;
  size_t next = 0;
  int index = 0;
  for (auto it = features->begin(); it != features->end() && next < 6; ++it, ++index) {
    h = it->forward(h);
    if (index == taps[next].first) *taps[next++].second = h;
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
