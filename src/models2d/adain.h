// AdaIN style transfer (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
// Normalization", ICCV 2017): a fixed VGG-style encoder f up to relu4_1, AdaIN t = sigma(s) (f(c) - mu(c)) / sigma(c)
// + mu(s) on its features, and a mirrored decoder g (nearest upsampling, reflection-padded convolutions) trained with
// the content loss ||f(g(t)) - t|| and the mean/std style loss on relu1_1 ... relu4_1. The 2D network of StylizedNeRF.
//
// Encoders: torchvision's VGG-19 (models2d/vgg.h) when the user passes its weights; by default VGG-19's layout to
// relu4_1 with every width divided by 4 and random fixed weights, which nerfedit can have on any machine and train a
// decoder for in minutes on 2 cores (random-weight VGG features carry usable style statistics: He et al. 2016,
// "A Powerful Generative Model Using Random Weights for the Deep Image Representation"; Ulyanov et al. 2016).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models2d/vgg.h"

namespace nerfedit {

struct AdainOptions {
 public:
  // Encoder/decoder widths are VGG-19's (64, 128, 256, 512) divided by this; 1 with vgg_weights = the real VGG-19.
  // 4: measured 2-core step time and losses in the README's StylizedNeRF section (adain_test checks the layout).
  TORCH_ARG(int64_t, width_divisor) = 4;
  TORCH_ARG(std::string, vgg_weights) = "";  // torchvision VGG-19 safetensors (width_divisor must be 1); "" = random
  TORCH_ARG(uint64_t, encoder_seed) = 0;     // the random fixed encoder's weights
  TORCH_ARG(int64_t, image_size) = 64;       // training crops (content and style), a multiple of 8
  TORCH_ARG(int64_t, steps) = 2000;          // upper bound; a time budget may end training first
  TORCH_ARG(double, time_budget_seconds) = 0;  // 0 = no limit (`steps` alone sets the schedule)
  TORCH_ARG(int64_t, batch_size) = 8;
  // Adam, decayed as the authors' code does: lr / (1 + lr_decay * step). Deviation: 3e-4, not the paper's 1e-4 (a
  // 160k-step schedule). Measured in ~1900 steps: 3e-4 held-out style 0.29, identity 0.027, orbit style distance
  // 15.8 vs 1e-4's 0.32 / 0.031 / 19.5; 1e-3 stalled (style 1.78 -> 1.63 in 2000 steps: dead ReLUs).
  TORCH_ARG(double, lr) = 3e-4;
  TORCH_ARG(double, lr_decay) = 5e-5;
  TORCH_ARG(double, style_weight) = 10.0;  // lambda of L = L_c + lambda L_s (the paper's 10)
  // Deviation: + identity_weight * ||g(f(c)) - c||^2 in pixels (SANet's identity loss, Park & Lee 2019). With the
  // paper's losses alone the narrow random-feature decoder had learnt no content after 2000 steps (frames came out
  // as one blurred pattern); decoding the content's own features teaches it to invert f. 0 = the paper's loss.
  TORCH_ARG(double, identity_weight) = 50.0;
  TORCH_ARG(uint64_t, seed) = 0;           // data and decoder initialisation
  TORCH_ARG(int64_t, content_pool) = 256;  // pre-rendered content images; refresh_per_step re-rendered per step
  TORCH_ARG(int64_t, style_pool) = 256;    // pre-drawn style images (procedural kinds and the user's, cropped)
  TORCH_ARG(int64_t, refresh_per_step) = 2;
  TORCH_ARG(std::vector<std::string>, content_images) = {};  // the user's content images, mixed into the pool
  TORCH_ARG(std::vector<std::string>, style_images) = {};    // the user's style images, mixed into the pool
  TORCH_ARG(int64_t, eval_pairs) = 16;                       // held-out (content, style) pairs for the losses
  TORCH_ARG(bool, progress) = true;
  // torch threads while training (0 = the process's, ConfigureThreads'). Measured on this 2-core machine under
  // another engineer's concurrent load: 1 thread 0.17 s/step, 2 threads 2.0 s/step (OpenMP's waiting threads spin).
  TORCH_ARG(int, threads) = 1;

 public:
  void Check() const;  // throws naming the field and its value
  nlohmann::json ToJson() const;
  static AdainOptions FromJson(const nlohmann::json& j);  // strict: unknown keys are errors
};

// Channel-wise statistics over the spatial dimensions: features [B,C,H,W] -> mean and std [B,C]
// (std = sqrt(var + eps), biased variance, as the authors' code).
void MeanStd(const at::Tensor& features, at::Tensor* mean, at::Tensor* std, double eps = 1e-5);

// AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y), per sample and channel: content [B,C,H,W],
// style [B,C,H',W'] (any spatial size) -> [B,C,H,W].
at::Tensor AdaptiveInstanceNorm(const at::Tensor& content, const at::Tensor& style, double eps = 1e-5);

// relu1_1, relu2_1, relu3_1, relu4_1.
using StyleFeatures = std::array<at::Tensor, 4>;

// f: the fixed encoder. Its parameters never require gradients (it is not trained), but gradients flow through it.
class AdainEncoderImpl : public torch::nn::Module {
 public:
  explicit AdainEncoderImpl(int64_t width_divisor = 4, bool torchvision_vgg = false, uint64_t seed = 0);
  // x [B,3,H,W] RGB in [0,1] (H, W >= 8) -> the four taps.
  StyleFeatures forward(const at::Tensor& x);
  int64_t relu4_1_channels() const { return channels_; }

  torch::nn::Sequential features{nullptr};  // the narrow VGG (random fixed weights), or
  Vgg19 vgg{nullptr};                        // torchvision's VGG-19 (weights copied in by the caller)

 private:
  std::array<int, 4> taps_{};  // indices of relu1_1 ... relu4_1 in features
  int64_t channels_ = 0;
};
TORCH_MODULE(AdainEncoder);

// g: mirrors the encoder: relu4_1 width -> RGB, nearest 2x upsampling where the encoder pools, a 1-pixel reflection
// pad before every 3x3 convolution, ReLU after all but the last.
class AdainDecoderImpl : public torch::nn::Module {
 public:
  explicit AdainDecoderImpl(int64_t width_divisor = 4);
  at::Tensor forward(const at::Tensor& t);  // [B,C4,h,w] -> [B,3,8h,8w] (unbounded; clamp to show)
  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(AdainDecoder);

struct AdainLosses {
  at::Tensor output;   // [B,3,H,W] g(t)
  at::Tensor content;  // scalar: mean squared error of f(g(t)) against t at relu4_1
  at::Tensor style;    // scalar: sum over the 4 layers of the mean squared errors of mean and std
  at::Tensor identity; // scalar: mean squared pixel error of g(f(c)) against c (defined when asked for)
};

class AdainNetImpl : public torch::nn::Module {
 public:
  explicit AdainNetImpl(const AdainOptions& options = AdainOptions());
  // content [B,3,H,W], style [B,3,Hs,Ws] (or [1,...], broadcast over B), RGB in [0,1] -> [B,3,H,W] in [0,1].
  // Any H, W >= 8 (reflection-padded to a multiple of 8, cropped back). alpha trades content (0) for style (1):
  // t' = (1 - alpha) f(c) + alpha t, as the paper's §7.
  at::Tensor Stylize(const at::Tensor& content, const at::Tensor& style, double alpha = 1.0);
  // The training losses of one batch (H, W multiples of 8); identity: also decode f(c) (one decoder pass for both).
  AdainLosses Losses(const at::Tensor& content, const at::Tensor& style, bool identity = false);

  const AdainOptions& options() const { return options_; }
  AdainEncoder encoder{nullptr};
  AdainDecoder decoder{nullptr};

 private:
  AdainOptions options_;
};
TORCH_MODULE(AdainNet);

// The style-statistics distance the losses use, for measurement: sum over relu1_1..relu4_1 of the L2 norms of the
// mean and std differences between images a [B,3,H,W] and b [B|1,3,H',W'], per sample, averaged. With an encoder
// other than the one a decoder was trained with, it measures style without rewarding the training objective.
double StyleStatisticsDistance(AdainEncoder& encoder, const at::Tensor& a, const at::Tensor& b);

// A random procedural content image [3,size,size] in [0,1]: 1-5 objects of random shapes and colours on the checkered
// ground (or the default scene), seen from a random viewpoint. Deterministic per seed.
at::Tensor RenderContentImage(uint64_t seed, int64_t size);

struct AdainTrainResult {
  double train_seconds = 0;     // wall clock, pools and evaluation included
  int64_t steps = 0;
  double seconds_per_step = 0;  // optimisation steps only
  // Held-out pairs (fresh contents, fresh procedural styles), before and after training.
  double initial_content_loss = 0, initial_style_loss = 0;
  double final_content_loss = 0, final_style_loss = 0;
  double initial_identity_loss = 0, final_identity_loss = 0;  // pixel MSE of g(f(c)) against c
  // Training-batch losses every ~5% of the run: {step, content, style}.
  std::vector<std::array<double, 3>> curve;
  nlohmann::json ToJson() const;
};

// Bumped whenever what a saved AdaIN means changes (architecture, losses, data): a cache of another version is retrained.
constexpr int kAdainFormatVersion = 1;

// Trains a decoder and, when out_dir is non-empty, saves model.safetensors + adain_training.json there
// (the directory is written beside and renamed into place, so a crash never leaves half a model).
AdainTrainResult TrainAdain(const AdainOptions& options, const std::string& out_dir, AdainNet* trained = nullptr);

// Loads a saved AdaIN (its options come from adain_training.json). Throws naming the folder.
AdainNet LoadAdain(const std::string& dir);

// Whether dir holds an AdaIN of kAdainFormatVersion trained with exactly `options` (progress ignored).
bool IsCurrentAdain(const std::string& dir, const AdainOptions& options);

// $NERFEDIT_ADAIN, else $XDG_CACHE_HOME/nerfedit/adain, else ~/.cache/nerfedit/adain.
std::string DefaultAdainDir();

// The cached network for `options` in dir: loaded when current, otherwise trained (with a progress bar when
// options.progress()) and saved there first. *trained_now (optional) says which.
AdainNet EnsureAdain(const AdainOptions& options, const std::string& dir, bool* trained_now = nullptr);

}  // namespace nerfedit
