#include "methods/dff/text_recolor.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "models2d/small_clip_data.h"
#include "render/camera.h"
#include "render/compositing.h"
#include "util/error.h"
#include "util/progress_bar.h"

namespace nerfedit {

namespace {

namespace F = torch::nn::functional;

// One training view's samples that the selection covers, cached once: density, base colours and the selection are
// frozen, so an edited render is the base render plus sum_i w_i (edit(c_i) - c_i) over these samples alone.
struct SelectedSamples {
  int64_t view = 0, height = 0, width = 0;
  at::Tensor base;     // [H*W,3] the unedited render (same sampler pass, background included)
  at::Tensor pixel;    // [K] i64
  at::Tensor weight;   // [K] compositing weights
  at::Tensor rgb;      // [K,3] base colours
  int64_t pixels = 0;  // pixels whose selected opacity exceeds 0.5
  int64_t crop_y = 0, crop_x = 0, crop_size = 0;  // square window around them (what CLIP is shown)
};

SelectedSamples CacheSelectedSamples(NerfModel& model, const Selection& selection, const Camera& camera,
                                     double window_fraction) {
  torch::NoGradGuard no_grad;
  const c10::Device device = model.device();
  const RayBatch rays = GenerateRays(camera).To(device);
  const RaySamples samples = model.SampleRays(rays, /*training=*/false);
  const at::Tensor positions = samples.Positions(rays.origins, rays.directions);
  const at::Tensor directions = rays.directions.index_select(0, samples.ray_indices);
  std::vector<at::Tensor> density, rgb, mask;
  constexpr int64_t kChunk = 1 << 16;  // features are [M,F]: bounded memory per query
  for (int64_t b = 0; b < positions.size(0); b += kChunk) {
    const int64_t e = std::min(b + kChunk, positions.size(0));
    FieldOutputs out = model.field()->Query(positions.slice(0, b, e), directions.slice(0, b, e));
    NE_CHECK(out.features.defined(), "text recolour: the run's field renders no features (use a `dff` run)");
    density.push_back(out.density);
    rgb.push_back(out.rgb);
    mask.push_back(selection.Mask(out.features, positions.slice(0, b, e)));
  }
  const at::Tensor all_density = density.empty() ? torch::zeros({0}, positions.options()) : torch::cat(density);
  const at::Tensor all_rgb = rgb.empty() ? torch::zeros({0, 3}, positions.options()) : torch::cat(rgb);
  const at::Tensor all_mask = mask.empty() ? torch::zeros({0}, positions.options().dtype(at::kBool)) : torch::cat(mask);
  const Composited c = CompositeAlongRays(all_density, all_rgb, samples);
  const at::Tensor background = torch::tensor(model.config().background).to(device);
  SelectedSamples s;
  s.height = camera.height;
  s.width = camera.width;
  s.base = c.values + (1 - c.opacity).unsqueeze(1) * background;
  const at::Tensor keep = all_mask & (c.weights > 1e-5f);
  s.pixel = samples.ray_indices.index({keep});
  s.weight = c.weights.index({keep});
  s.rgb = all_rgb.index({keep});
  const at::Tensor alpha = torch::zeros({s.height * s.width}, s.weight.options()).index_add_(0, s.pixel, s.weight);
  const at::Tensor covered = (alpha > 0.5f).reshape({s.height, s.width}).cpu();
  s.pixels = covered.sum().item<int64_t>();
  if (s.pixels == 0) return s;
  const at::Tensor rows = covered.any(1).nonzero().flatten(), cols = covered.any(0).nonzero().flatten();
  const int64_t y0 = rows.min().item<int64_t>(), y1 = rows.max().item<int64_t>() + 1;
  const int64_t x0 = cols.min().item<int64_t>(), x1 = cols.max().item<int64_t>() + 1;
  if (window_fraction > 0) {
    // A fixed share of the frame centred on the selection's pixels: how dff's crops teacher and the small CLIP's
    // scene crops frame what they name.
    const at::Tensor yx = covered.nonzero().to(at::kFloat).mean(0);
    s.crop_size = std::min({std::max<int64_t>(8, std::llround(window_fraction * s.width)), s.height, s.width});
    s.crop_y = std::clamp(std::llround(yx[0].item<double>() + 0.5 - s.crop_size / 2.0), 0LL,
                          static_cast<long long>(s.height - s.crop_size));
    s.crop_x = std::clamp(std::llround(yx[1].item<double>() + 0.5 - s.crop_size / 2.0), 0LL,
                          static_cast<long long>(s.width - s.crop_size));
    return s;
  }
  // The object with a margin of its surroundings, as a CLIP's single-object images frame it.
  s.crop_size =
      std::min({std::max<int64_t>(8, static_cast<int64_t>(1.3 * std::max(y1 - y0, x1 - x0))), s.height, s.width});
  s.crop_y = std::clamp((y0 + y1 - s.crop_size) / 2, int64_t{0}, s.height - s.crop_size);
  s.crop_x = std::clamp((x0 + x1 - s.crop_size) / 2, int64_t{0}, s.width - s.crop_size);
  return s;
}

// The view with the selection recoloured by (matrix, bias): [H,W,3], differentiable in both.
at::Tensor RenderRecoloured(const SelectedSamples& s, const at::Tensor& matrix, const at::Tensor& bias) {
  const at::Tensor change = AffineRecolor(s.rgb, matrix, bias) - s.rgb;
  return s.base.index_add(0, s.pixel, change * s.weight.unsqueeze(1)).reshape({s.height, s.width, 3});
}

// Every view's window around the selection, resized for the CLIP and normalised: [V,3,S,S].
at::Tensor ClipCrops(const std::vector<SelectedSamples>& views, const std::vector<at::Tensor>& images, int64_t size) {
  std::vector<at::Tensor> crops;
  for (size_t v = 0; v < views.size(); ++v) {
    const SelectedSamples& s = views[v];
    at::Tensor crop = images[v].clamp(0, 1).slice(0, s.crop_y, s.crop_y + s.crop_size);
    crop = crop.slice(1, s.crop_x, s.crop_x + s.crop_size).permute({2, 0, 1}).unsqueeze(0);
    crops.push_back(F::interpolate(crop, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{size, size})
                                             .mode(torch::kBilinear)
                                             .align_corners(false)));
  }
  return ClipNormalise(torch::cat(crops));
}

// Rotation by `degrees` about the grey axis (1,1,1)/sqrt(3) (Rodrigues): a hue rotation as a linear colour map.
at::Tensor HueRotationMatrix(double degrees) {
  const double t = degrees * M_PI / 180, c = std::cos(t), s = std::sin(t), k = (1 - c) / 3, u = s / std::sqrt(3.0);
  return torch::tensor({c + k, k - u, k + u, k + u, c + k, k - u, k - u, k + u, c + k}, torch::kFloat).view({3, 3});
}

}  // namespace

void TextRecolorOptions::Check() const {
  NE_CHECK(views_ >= 1 && views_ <= 64, "text recolour: views must be in [1, 64], got ", views_);
  NE_CHECK(candidate_views_ >= views_, "text recolour: candidate_views (", candidate_views_,
           ") must be at least views (", views_, ")");
  NE_CHECK(steps_ >= 0 && steps_ <= 100000, "text recolour: steps must be in [0, 100000], got ", steps_);
  NE_CHECK(std::isfinite(lr_) && lr_ > 0 && lr_ <= 1, "text recolour: lr must be in (0, 1], got ", lr_);
  NE_CHECK(std::isfinite(identity_weight_) && identity_weight_ >= 0,
           "text recolour: identity_weight must be >= 0, got ", identity_weight_);
  NE_CHECK(min_pixels_ >= 1, "text recolour: min_pixels must be >= 1, got ", min_pixels_);
  NE_CHECK(window_fraction_ >= 0 && window_fraction_ <= 1, "text recolour: window_fraction must be in [0, 1], got ",
           window_fraction_);
  NE_CHECK(std::isfinite(contrast_weight_) && contrast_weight_ >= 0,
           "text recolour: contrast_weight must be >= 0, got ", contrast_weight_);
}

std::vector<std::string> UnknownPromptWords(const std::string& clip_dir, const std::string& prompt) {
  if (!std::filesystem::exists(std::filesystem::path(clip_dir) / "small_clip_training.json")) return {};
  std::set<std::string> known;
  for (const std::string& caption : CaptionCorpus()) {
    std::istringstream words(caption);
    for (std::string w; words >> w;) known.insert(w);
  }
  std::vector<std::string> unknown;
  std::istringstream words(prompt);
  for (std::string w; words >> w;) {
    std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!known.count(w)) unknown.push_back(w);
  }
  return unknown;
}

TextRecolorResult FitTextRecolor(NerfModel& model, const Selection& selection, const ClipBundle& clip,
                                 const std::string& prompt, const TextRecolorOptions& options) {
  options.Check();
  NE_CHECK(!prompt.empty(), "text recolour: the prompt is empty");
  NE_CHECK(model.config().sampler != "hierarchical",
           "text recolour: the run uses the hierarchical sampler, whose samples the recolour cache cannot keep "
           "(train with sampler occupancy or stratified)");
  const std::vector<Camera> cameras = model.TrainingCameras();
  NE_CHECK(!cameras.empty(), "text recolour: the run has no training cameras");
  // Candidate views evenly spaced; keep those where the selection is largest.
  std::vector<SelectedSamples> candidates;
  const int64_t n = std::min<int64_t>(options.candidate_views(), static_cast<int64_t>(cameras.size()));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = i * static_cast<int64_t>(cameras.size()) / n;
    candidates.push_back(CacheSelectedSamples(model, selection, cameras[v], options.window_fraction()));
    candidates.back().view = v;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const SelectedSamples& a, const SelectedSamples& b) { return a.pixels > b.pixels; });
  std::vector<SelectedSamples> views;
  for (auto& c : candidates) {
    if (static_cast<int64_t>(views.size()) < options.views() && c.pixels >= options.min_pixels()) {
      views.push_back(std::move(c));
    }
  }
  NE_CHECK(!views.empty(), "text recolour: the selection covers fewer than ", options.min_pixels(),
           " pixels in every one of ", n, " training views (select something visible, or lower the threshold)");

  ClipModel clip_model = clip.model;  // a handle: the bundle stays const, the forward passes are not
  at::Tensor texts;                   // [1 + negatives, P]: the prompt first
  {
    torch::NoGradGuard no_grad;
    std::vector<std::string> phrases = {prompt};
    for (const std::string& n : options.negatives()) {
      if (n != prompt) phrases.push_back(n);
    }
    texts = clip_model->EncodeText(clip.tokenizer.Tokenize(phrases, clip.config.text.max_position_embeddings));
  }
  const at::Tensor text = texts.slice(0, 0, 1);
  const c10::Device device = model.device();
  at::Tensor matrix = torch::eye(3, torch::TensorOptions().device(device));
  at::Tensor bias = torch::zeros({3}, torch::TensorOptions().device(device)).requires_grad_(true);
  const int64_t size = clip.config.vision.image_size;
  // D_CLIP per view (CLIP-NeRF's 1 - cos) averaged, and the contrast against the negatives. The contrast's logits use
  // the CLIP's own temperature, as its training did.
  const double logit_scale = clip_model->logit_scale.exp().item<double>();
  at::Tensor prompt_probability;
  auto clip_loss = [&]() {
    std::vector<at::Tensor> images;
    for (const SelectedSamples& s : views) images.push_back(RenderRecoloured(s, matrix, bias));
    const at::Tensor embeds = clip_model->EncodeImage(ClipCrops(views, images, size).to(device));
    const at::Tensor d_clip = (1 - (embeds * text.to(device)).sum(-1)).mean();
    if (texts.size(0) == 1) return std::make_pair(d_clip, torch::zeros({}));
    const at::Tensor log_p = torch::log_softmax(logit_scale * embeds.matmul(texts.to(device).t()), 1).select(1, 0);
    prompt_probability = log_p.detach().exp().mean();
    return std::make_pair(d_clip, -log_p.mean());
  };
  TextRecolorResult result;
  for (const SelectedSamples& s : views) result.views.push_back(s.view);
  // Start from the best of 12 hue rotations: gradient descent from the identity alone can settle on a wrong hue
  // (measured with the small CLIP: "blue sphere" turned the red sphere orange), a scan over the hue circle cannot.
  {
    torch::NoGradGuard no_grad;
    result.clip_loss_start = clip_loss().first.item<double>();  // the unedited selection
    result.prompt_probability_start = prompt_probability.defined() ? prompt_probability.item<double>() : 1.0;
  }
  if (options.hue_scan()) {
    torch::NoGradGuard no_grad;
    double best = std::numeric_limits<double>::infinity();
    at::Tensor best_matrix = matrix;
    for (int k = 0; k < 12; ++k) {
      matrix = HueRotationMatrix(30.0 * k).to(device);
      const auto [d_clip, contrast] = clip_loss();
      const double loss = (d_clip + options.contrast_weight() * contrast).item<double>();
      if (loss < best) best = loss, best_matrix = matrix;
    }
    matrix = best_matrix;
  }
  const at::Tensor start = matrix.clone();  // the pull keeps the map near where the scan put it
  matrix = matrix.clone().requires_grad_(true);
  std::optional<ProgressBar> bar;
  if (options.progress()) bar.emplace("text recolour", options.steps(), "steps");
  torch::optim::Adam optimizer({matrix, bias}, torch::optim::AdamOptions(options.lr()));
  for (int64_t step = 0; step <= options.steps(); ++step) {
    const auto [d_clip, contrast] = clip_loss();
    const double p = prompt_probability.defined() ? prompt_probability.item<double>() : 1.0;
    if (step == options.steps()) {
      result.clip_loss_end = d_clip.item<double>();
      result.prompt_probability_end = p;
      break;
    }
    const at::Tensor loss = d_clip + options.contrast_weight() * contrast +
                            options.identity_weight() * ((matrix - start).square().sum() + bias.square().sum());
    NE_CHECK(std::isfinite(loss.item<double>()), "text recolour: the loss became ", loss.item<double>(), " at step ",
             step);
    // Gradients for the 12 parameters only (the CLIP stays as it is, no gradient buffers in it).
    const auto grads = torch::autograd::grad({loss}, {matrix, bias});
    matrix.mutable_grad() = grads[0];
    bias.mutable_grad() = grads[1];
    optimizer.step();
    if (options.progress()) {
      char metrics[64];
      std::snprintf(metrics, sizeof(metrics), "D_CLIP %.4f", d_clip.item<double>());
      bar->Update(step + 1, metrics);
    }
  }
  if (bar) bar->Finish();
  const at::Tensor m = matrix.detach().cpu().contiguous(), b = bias.detach().cpu().contiguous();
  result.recolor.mode("affine")
      .matrix(std::vector<float>(m.data_ptr<float>(), m.data_ptr<float>() + 9))
      .bias(std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + 3))
      .prompt(prompt);
  result.recolor.Check("text recolour");
  return result;
}

}  // namespace nerfedit
