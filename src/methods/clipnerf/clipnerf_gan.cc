#include "methods/clipnerf/clipnerf_gan.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "eval/frechet_distance.h"
#include "methods/clipnerf/clipnerf_clip.h"
#include "util/error.h"

namespace nerfedit {

namespace F = torch::nn::functional;

void PatchDiscriminatorOptions::Check() const {
  NE_CHECK(downsamplings_ >= 1, "patch discriminator: downsamplings must be >= 1, got ", downsamplings_);
  NE_CHECK(patch_ >= (int64_t{1} << (downsamplings_ + 1)), "patch discriminator: a ", patch_, " px patch is too ",
           "small for ", downsamplings_, " downsamplings (needs >= ", int64_t{1} << (downsamplings_ + 1), ")");
  NE_CHECK(width_ >= 1, "patch discriminator: width must be >= 1, got ", width_);
}

PatchDiscriminatorImpl::PatchDiscriminatorImpl(PatchDiscriminatorOptions options) : options(std::move(options)) {
  reset();
}

void PatchDiscriminatorImpl::reset() {
  options.Check();
  net = torch::nn::Sequential();
  int64_t in = 3, out = options.width();
  for (int64_t i = 0; i < options.downsamplings(); ++i, in = out, out *= 2) {
    net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 4).stride(2).padding(1)));
    net->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
  }
  net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, 1, 3).stride(1).padding(1)));
  register_module("net", net);
}

at::Tensor PatchDiscriminatorImpl::forward(const at::Tensor& patches) {
  NE_CHECK(patches.dim() == 4 && patches.size(1) == 3 && patches.size(2) == options.patch() &&
               patches.size(3) == options.patch(),
           "patch discriminator: patches must be [N,3,", options.patch(), ",", options.patch(), "], got ",
           patches.sizes());
  return net->forward(patches * 2 - 1).squeeze(1);  // inputs centred as GAN discriminators expect
}

at::Tensor DiscriminatorLoss(const at::Tensor& real_logits, const at::Tensor& fake_logits) {
  // -f(D(I)) - f(-D(G)) with f(x) = -log(1 + exp(-x)) = -softplus(-x).
  return F::softplus(-real_logits).mean() + F::softplus(fake_logits).mean();
}

at::Tensor GeneratorLoss(const at::Tensor& fake_logits) { return F::softplus(-fake_logits).mean(); }

at::Tensor R1Penalty(const at::Tensor& real_logits, const at::Tensor& real, double lambda_r) {
  NE_CHECK(real.requires_grad(), "R1 penalty: the real images must require grad (set before the discriminator ran)");
  const at::Tensor per_image = real_logits.reshape({real_logits.size(0), -1}).mean(1);
  const at::Tensor grad = torch::autograd::grad({per_image.sum()}, {real}, {}, /*retain_graph=*/true,
                                                /*create_graph=*/true)[0];
  return lambda_r * grad.pow(2).reshape({grad.size(0), -1}).sum(1).mean();
}

at::Tensor PatchPixels(int64_t patch, int64_t width, int64_t height, const at::Tensor& scale,
                       const at::Tensor& offset) {
  NE_CHECK(scale.dim() == 1 && offset.dim() == 2 && offset.size(0) == scale.size(0) && offset.size(1) == 2,
           "patch pixels: scale must be [N] and offset [N,2], got ", scale.sizes(), " and ", offset.sizes());
  const at::Tensor steps = (torch::arange(patch, scale.options()) + 0.5) / patch;  // [K] in (0,1)
  const auto grid = torch::meshgrid({steps, steps}, "ij");
  const at::Tensor unit = torch::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, 1);  // [K*K,2] (x, y)
  const at::Tensor size = torch::tensor({static_cast<float>(width), static_cast<float>(height)}, scale.options());
  const at::Tensor s = scale.view({-1, 1, 1});
  const at::Tensor corner = (offset * (1 - scale.view({-1, 1})) * size).unsqueeze(1);  // [N,1,2]
  return corner + unit.unsqueeze(0) * s * size;
}

at::Tensor SampleImages(const at::Tensor& images, const at::Tensor& pixels) {
  NE_CHECK(images.dim() == 4 && images.size(3) == 3 && pixels.dim() == 3 && pixels.size(0) == images.size(0) &&
               pixels.size(2) == 2,
           "sample images: images must be [N,H,W,3] and pixels [N,P,2], got ", images.sizes(), " and ", pixels.sizes());
  const int64_t h = images.size(1), w = images.size(2);
  const at::Tensor size = torch::tensor({static_cast<float>(w), static_cast<float>(h)}, pixels.options());
  const at::Tensor grid = (pixels / size * 2 - 1).unsqueeze(1);  // [N,1,P,2], align_corners false: pixel edges at +-1
  const at::Tensor out = F::grid_sample(images.permute({0, 3, 1, 2}), grid,
                                        F::GridSampleFuncOptions()
                                            .mode(torch::kBilinear)
                                            .padding_mode(torch::kBorder)
                                            .align_corners(false));  // [N,3,1,P]
  return out.squeeze(2).permute({0, 2, 1});
}

ClipnerfGan::ClipnerfGan(ClipnerfModel* model, const at::Tensor& real, PosePrior prior, ClipnerfGanOptions options)
    : model_(model),
      real_(real.to(model->device(), at::kFloat).contiguous()),
      prior_(std::move(prior)),
      options_(options) {
  NE_CHECK(real_.dim() == 4 && real_.size(3) == 3 && real_.size(0) >= 1, "clipnerf gan: real images must be ",
           "[N,H,W,3], got ", real_.sizes());
  NE_CHECK(real_.size(1) == prior_.intrinsics.height && real_.size(2) == prior_.intrinsics.width,
           "clipnerf gan: images are ", real_.size(2), "x", real_.size(1), " but the cameras ", prior_.intrinsics.width,
           "x", prior_.intrinsics.height);
  NE_CHECK(options_.patch() <= std::min(real_.size(1), real_.size(2)), "clipnerf gan: patch ", options_.patch(),
           " is larger than the ", real_.size(2), "x", real_.size(1), " images");
  NE_CHECK(options_.batch() >= 1, "clipnerf gan: batch must be >= 1, got ", options_.batch());
  NE_CHECK(options_.r1_weight() >= 0, "clipnerf gan: r1_weight must be >= 0, got ", options_.r1_weight());
  discriminator_ =
      PatchDiscriminator(PatchDiscriminatorOptions().patch(options_.patch()).width(options_.discriminator_width()));
  discriminator_->to(model_->device());
  generator_optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->FieldParameters(), torch::optim::AdamOptions(options_.generator_lr()).betas({0.0, 0.99}).eps(1e-8));
  discriminator_optimizer_ = std::make_unique<torch::optim::Adam>(
      discriminator_->parameters(),
      torch::optim::AdamOptions(options_.discriminator_lr()).betas({0.0, 0.99}).eps(1e-8));
}

std::vector<OptimizerSlot> ClipnerfGan::Optimizers() {
  return {{"generator", generator_optimizer_.get(), {options_.generator_lr(), 1.0, 0}},
          {"discriminator", discriminator_optimizer_.get(), {options_.discriminator_lr(), 1.0, 0}}};
}

StepResult ClipnerfGan::Step(const StepContext& context) {
  const c10::Device device = model_->device();
  const int64_t b = options_.batch(), k = options_.patch(), w = prior_.intrinsics.width, h = prior_.intrinsics.height;
  const double min_scale = options_.min_scale() > 0 ? options_.min_scale() : static_cast<double>(k) / std::min(w, h);
  auto draw_scale = [&] { return torch::rand({b}) * (1 - min_scale) + min_scale; };
  // Fake patches: codes from N(0, I), cameras from the prior, a GRAF patch each.
  at::Tensor azimuth, elevation;
  prior_.Sample(b, &azimuth, &elevation);
  const at::Tensor poses = prior_.Poses(azimuth, elevation).to(device);
  const at::Tensor pixels = PatchPixels(k, w, h, draw_scale(), torch::rand({b, 2})).to(device);  // [B,K*K,2]
  const Camera& c = prior_.intrinsics;
  const at::Tensor intrinsics = torch::tensor({static_cast<float>(c.fx), static_cast<float>(c.fy),
                                               static_cast<float>(c.cx), static_cast<float>(c.cy)})
                                    .view({1, 4})
                                    .expand({b, 4})
                                    .to(device);
  const at::Tensor camera_index = torch::arange(b, torch::dtype(at::kLong).device(device)).repeat_interleave(k * k);
  const RayBatch rays = GenerateRays(intrinsics, poses, camera_index, pixels.reshape({-1, 2}));
  const at::Tensor codes = torch::randn({b, model_->code_dim()}, torch::device(device));
  const ClipnerfRays out = model_->RenderRays(rays, codes.index_select(0, camera_index), /*training=*/true);
  const at::Tensor fake = out.rgb.reshape({b, k, k, 3}).permute({0, 3, 1, 2});  // [B,3,K,K]
  // Real patches: random training images, their own random patches.
  const at::Tensor pick = torch::randint(real_.size(0), {b}, torch::dtype(at::kLong)).to(device);
  const at::Tensor real_pixels = PatchPixels(k, w, h, draw_scale(), torch::rand({b, 2})).to(device);
  const at::Tensor real = SampleImages(real_.index_select(0, pick), real_pixels)
                              .reshape({b, k, k, 3})
                              .permute({0, 3, 1, 2})
                              .contiguous()
                              .requires_grad_(true);

  // Discriminator update.
  for (auto& p : discriminator_->parameters()) p.requires_grad_(true);
  const at::Tensor real_logits = discriminator_->forward(real);
  const at::Tensor fake_logits = discriminator_->forward(fake.detach());
  const at::Tensor d_loss = DiscriminatorLoss(real_logits, fake_logits);
  const at::Tensor r1 = options_.r1_weight() > 0 ? R1Penalty(real_logits, real, options_.r1_weight())
                                                 : torch::zeros({}, d_loss.options());
  discriminator_optimizer_->zero_grad();
  (d_loss + r1).backward();
  context.CheckFinite((d_loss + r1).item<double>(), "discriminator loss");
  discriminator_optimizer_->step();

  // Generator update against the updated discriminator (its weights frozen for this backward).
  for (auto& p : discriminator_->parameters()) p.requires_grad_(false);
  const at::Tensor g_loss = GeneratorLoss(discriminator_->forward(fake));
  generator_optimizer_->zero_grad();
  g_loss.backward();
  context.CheckFinite(g_loss.item<double>(), "generator loss");
  generator_optimizer_->step();
  for (auto& p : discriminator_->parameters()) p.requires_grad_(true);

  char status[96];
  std::snprintf(status, sizeof(status), "D %.3f  R1 %.4f  G %.3f", d_loss.item<double>(), r1.item<double>(),
                g_loss.item<double>());
  return {g_loss.item<double>(), false, status};
}

at::Tensor ClipnerfGan::Generate(int64_t n, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor azimuth, elevation;
  {
    // Prior draws and codes from their own seeded generator, so start and end sample the same codes and cameras.
    const at::Tensor u = at::rand({n, 3}, generator);
    const double s0 = std::sin(prior_.elevation_min), s1 = std::sin(prior_.elevation_max);
    azimuth = u.select(1, 0) * (prior_.azimuth_max - prior_.azimuth_min) + prior_.azimuth_min;
    elevation = torch::asin(u.select(1, 1) * (s1 - s0) + s0);
  }
  const at::Tensor codes = at::randn({n, model_->code_dim()}, generator);
  std::vector<at::Tensor> images;
  for (int64_t i = 0; i < n; ++i) {
    images.push_back(
        model_->RenderCamera(prior_.MakeCamera(azimuth[i].item<double>(), elevation[i].item<double>()), codes[i]).rgb);
  }
  return torch::stack(images);
}

void ClipnerfGan::SaveState(torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive d;
  discriminator_->save(d);
  archive.write("discriminator", d);
}

void ClipnerfGan::LoadState(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive d;
  NE_CHECK(archive.try_read("discriminator", d), "clipnerf gan: the checkpoint holds no discriminator (a glo run?)");
  discriminator_->load(d);
  discriminator_->to(model_->device());
}

double ClipFrechetDistance(ClipModel& clip, const at::Tensor& generated, const at::Tensor& real) {
  torch::NoGradGuard no_grad;
  return FrechetDistance(ClipImageEmbeddings(clip, generated), ClipImageEmbeddings(clip, real));
}

}  // namespace nerfedit
