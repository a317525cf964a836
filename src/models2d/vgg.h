// VGG-19 convolutional features (Simonyan & Zisserman 2015) with torchvision's parameter names (features.0 ...
// features.34), for style/content losses (Gatys et al.; AdaIN; StylizedNeRF): relu1_1 ... relu5_1 and relu4_2.
#pragma once
#include <torch/torch.h>

#include <string>

namespace nerfedit {

struct Vgg19Features {
  at::Tensor relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1;  // [B,64|128|256|512|512|512,h,w]
};

class Vgg19Impl : public torch::nn::Module {
 public:
  Vgg19Impl();
  // x [B,3,H,W], ImageNet-normalised RGB (see ImageNetNormalize). Runs up to `last` ("relu1_1" ... "relu5_1",
  // default relu5_1 = features.29); the taps after it stay undefined (AdaIN / StylizedNeRF stop at relu4_1).
  Vgg19Features forward(const at::Tensor& x, const std::string& last = "relu5_1");
  torch::nn::Sequential features;
};
TORCH_MODULE(Vgg19);

// (x - mean) / std with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); x [B,3,H,W] in [0,1].
at::Tensor ImageNetNormalize(const at::Tensor& x);

// A torchvision vgg19 state dict saved as safetensors; "classifier.*" tensors are ignored.
Vgg19 LoadVgg19(const std::string& safetensors_path);

}  // namespace nerfedit
