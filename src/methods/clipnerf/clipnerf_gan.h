// CLIP-NeRF's adversarial objective (the paper trains its generator as a GRAF-style GAN from unposed single views):
//   - codes z_s, z_a ~ N(0, I) and cameras from the dataset's pose prior (clipnerf_pose.h), never the images' poses;
//   - GRAF's patch sampling (Schwarz et al. 2020): K x K rays on a dilated grid of random scale s in [s_min, 1] (the
//     whole image at s = 1, native pixel spacing at s = K / W) and random position; real patches are the same kind of
//     grid sampled bilinearly from random training images;
//   - a PatchGAN discriminator (Isola et al. 2017): strided 4x4 convolutions with LeakyReLU(0.2), one logit per
//     receptive field;
//   - the non-saturating loss with f(x) = -log(1 + exp(-x)): the discriminator maximises f(D(I)) + f(-D(G(z, v))),
//     the generator maximises f(D(G(z, v))) (both as minimising softplus, averaged over the patch logits);
//   - R1 on real patches, lambda_r * E ||grad_I D(I)||^2 with lambda_r = 0.5, D(I) the mean of I's patch logits.
// One engine step = one discriminator update then one generator update on the same rendered patches (the render is
// the expensive part on a CPU; GRAF re-renders for the generator update).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/adam.h>

#include <memory>

#include "engine/method.h"
#include "methods/clipnerf/clipnerf_model.h"
#include "methods/clipnerf/clipnerf_pose.h"
#include "models2d/clip.h"

namespace nerfedit {

struct PatchDiscriminatorOptions {
  TORCH_ARG(int64_t, patch) = 16;  // K: input patches [N,3,K,K]
  TORCH_ARG(int64_t, width) = 64;  // channels of the first layer (doubled per downsampling layer)
  TORCH_ARG(int64_t, downsamplings) = 2;

 public:
  void Check() const;
};

class PatchDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit PatchDiscriminatorImpl(PatchDiscriminatorOptions options = {});
  void reset();
  // patches [N,3,K,K] in [0,1] -> logits [N, k, k] (one per receptive field).
  at::Tensor forward(const at::Tensor& patches);

  PatchDiscriminatorOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

// The non-saturating losses on logits (means over every logit): discriminator softplus(-real) + softplus(fake),
// generator softplus(-fake).
at::Tensor DiscriminatorLoss(const at::Tensor& real_logits, const at::Tensor& fake_logits);
at::Tensor GeneratorLoss(const at::Tensor& fake_logits);
// lambda_r * mean_n ||d D(real_n) / d real_n||^2 with D(x) = the mean of x's logits; differentiable w.r.t. D's weights
// (create_graph). real must require grad and logits = D(real).
at::Tensor R1Penalty(const at::Tensor& real_logits, const at::Tensor& real, double lambda_r);

// Continuous pixel coordinates [N, K*K, 2] of GRAF patches in a width x height image: a K x K grid spanning a
// fraction `scale` [N] of the image, its top-left corner at `offset` [N,2] (fractions of the free range, in [0,1]).
at::Tensor PatchPixels(int64_t patch, int64_t width, int64_t height, const at::Tensor& scale, const at::Tensor& offset);
// Bilinear samples of images [N,H,W,3] at pixel coordinates [N,P,2] -> [N,P,3].
at::Tensor SampleImages(const at::Tensor& images, const at::Tensor& pixels);

struct ClipnerfGanOptions {
  TORCH_ARG(int64_t, patch) = 16;
  TORCH_ARG(int64_t, batch) = 8;           // patches per step (each with its own code and camera)
  TORCH_ARG(double, min_scale) = 0;        // 0: K / W (native pixel spacing)
  TORCH_ARG(double, generator_lr) = 5e-4;  // Adam (0, 0.99), as pi-GAN / StyleGAN
  TORCH_ARG(double, discriminator_lr) = 2e-4;
  TORCH_ARG(double, r1_weight) = 0.5;  // lambda_r
  TORCH_ARG(int64_t, discriminator_width) = 64;
};

class ClipnerfGan {
 public:
  // real: the training images [N,H,W,3] f32 in [0,1] (their poses are not used); prior: from the training cameras.
  ClipnerfGan(ClipnerfModel* model, const at::Tensor& real, PosePrior prior, ClipnerfGanOptions options);

  std::vector<OptimizerSlot> Optimizers();
  StepResult Step(const StepContext& context);
  // n generated images [n,H,W,3] (codes ~ N(0, I), prior cameras), without gradients, seeded.
  at::Tensor Generate(int64_t n, uint64_t seed);
  void SaveState(torch::serialize::OutputArchive& archive);
  void LoadState(torch::serialize::InputArchive& archive);

  PatchDiscriminator& discriminator() { return discriminator_; }
  const PosePrior& prior() const { return prior_; }

 private:
  ClipnerfModel* model_;
  at::Tensor real_;  // [N,H,W,3] on the model's device
  PosePrior prior_;
  ClipnerfGanOptions options_;
  PatchDiscriminator discriminator_{nullptr};
  std::unique_ptr<torch::optim::Adam> generator_optimizer_, discriminator_optimizer_;
};

// Fréchet distance (eval/frechet_distance.h) between CLIP image embeddings of `generated` and `real` [N,H,W,3].
double ClipFrechetDistance(ClipModel& clip, const at::Tensor& generated, const at::Tensor& real);

}  // namespace nerfedit
