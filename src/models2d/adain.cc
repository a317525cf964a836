#include "models2d/adain.h"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>

#include "data/procedural_scene.h"
#include "data/style_images.h"
#include "models2d/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/progress_bar.h"
#include "util/runtime.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using Rng = std::mt19937_64;

// VGG-19 ("E") up to relu4_1: channel counts, 0 = 2x2 max-pool.
const int kLayoutToRelu41[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512};

double Uniform(Rng& rng, double lo, double hi) { return lo + (hi - lo) * ((rng() >> 11) * (1.0 / 9007199254740992.0)); }

torch::nn::Conv2d Conv(int64_t in, int64_t out, bool reflect) {
  auto options = torch::nn::Conv2dOptions(in, out, 3).padding(1);
  if (reflect) options.padding_mode(torch::kReflect);
  return torch::nn::Conv2d(options);
}

// Reflection pad of x [B,3,H,W] up to multiples of 8 (right and bottom).
at::Tensor PadToMultipleOf8(const at::Tensor& x) {
  const int64_t ph = (8 - x.size(2) % 8) % 8, pw = (8 - x.size(3) % 8) % 8;
  if (ph == 0 && pw == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect));
}

constexpr const char* kTrainingJson = "adain_training.json";
constexpr const char* kWeightsFile = "model.safetensors";

nlohmann::json CacheKey(const AdainOptions& options) {
  nlohmann::json key = options.ToJson();
  key.erase("progress");
  key.erase("threads");  // how fast, not what
  return key;
}

std::string TemporarySibling(const std::string& dir, const char* tag) {
  return (fs::path(dir).parent_path() / (fs::path(dir).filename().string() + tag + std::to_string(::getpid())))
      .string();
}

// The user's images as [3,H,W] tensors (loaded once; cropped per pool entry).
std::vector<at::Tensor> LoadAll(const std::vector<std::string>& paths) {
  std::vector<at::Tensor> images;
  for (const auto& p : paths) images.push_back(LoadStyleImage(p));
  return images;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- options

void AdainOptions::Check() const {
  NE_CHECK(width_divisor() >= 1 && 64 % width_divisor() == 0, "AdainOptions: width_divisor must divide 64, got ",
           width_divisor());
  NE_CHECK(vgg_weights().empty() || width_divisor() == 1,
           "AdainOptions: vgg_weights (torchvision's VGG-19) needs width_divisor 1, got ", width_divisor());
  NE_CHECK(image_size() >= 16 && image_size() % 8 == 0, "AdainOptions: image_size must be a multiple of 8 >= 16, got ",
           image_size());
  NE_CHECK(steps() >= 0, "AdainOptions: steps must be >= 0, got ", steps());
  NE_CHECK(time_budget_seconds() >= 0, "AdainOptions: time_budget_seconds must be >= 0, got ",
           time_budget_seconds());
  NE_CHECK(batch_size() >= 1, "AdainOptions: batch_size must be >= 1, got ", batch_size());
  NE_CHECK(lr() > 0, "AdainOptions: lr must be > 0, got ", lr());
  NE_CHECK(lr_decay() >= 0, "AdainOptions: lr_decay must be >= 0, got ", lr_decay());
  NE_CHECK(style_weight() >= 0, "AdainOptions: style_weight must be >= 0, got ", style_weight());
  NE_CHECK(identity_weight() >= 0, "AdainOptions: identity_weight must be >= 0, got ", identity_weight());
  NE_CHECK(content_pool() >= 1 && style_pool() >= 1, "AdainOptions: content_pool (", content_pool(),
           ") and style_pool (", style_pool(), ") must be >= 1");
  NE_CHECK(refresh_per_step() >= 0, "AdainOptions: refresh_per_step must be >= 0, got ", refresh_per_step());
  NE_CHECK(eval_pairs() >= 1, "AdainOptions: eval_pairs must be >= 1, got ", eval_pairs());
  NE_CHECK(threads() >= 0, "AdainOptions: threads must be >= 0, got ", threads());
}

nlohmann::json AdainOptions::ToJson() const {
  return {{"width_divisor", width_divisor()},   {"vgg_weights", vgg_weights()},
          {"encoder_seed", encoder_seed()},     {"image_size", image_size()},
          {"steps", steps()},                   {"time_budget_seconds", time_budget_seconds()},
          {"batch_size", batch_size()},         {"lr", lr()},
          {"lr_decay", lr_decay()},             {"style_weight", style_weight()},
          {"identity_weight", identity_weight()},
          {"seed", seed()},                     {"content_pool", content_pool()},
          {"style_pool", style_pool()},         {"refresh_per_step", refresh_per_step()},
          {"content_images", content_images()}, {"style_images", style_images()},
          {"eval_pairs", eval_pairs()},         {"progress", progress()},
          {"threads", threads()}};
}

AdainOptions AdainOptions::FromJson(const nlohmann::json& j) {
  AdainOptions o;
  JsonReader r(j, "AdainOptions");
  r.Optional("width_divisor", &o.width_divisor())
      .Optional("vgg_weights", &o.vgg_weights())
      .Optional("encoder_seed", &o.encoder_seed())
      .Optional("image_size", &o.image_size())
      .Optional("steps", &o.steps())
      .Optional("time_budget_seconds", &o.time_budget_seconds())
      .Optional("batch_size", &o.batch_size())
      .Optional("lr", &o.lr())
      .Optional("lr_decay", &o.lr_decay())
      .Optional("style_weight", &o.style_weight())
      .Optional("identity_weight", &o.identity_weight())
      .Optional("seed", &o.seed())
      .Optional("content_pool", &o.content_pool())
      .Optional("style_pool", &o.style_pool())
      .Optional("refresh_per_step", &o.refresh_per_step())
      .Optional("content_images", &o.content_images())
      .Optional("style_images", &o.style_images())
      .Optional("eval_pairs", &o.eval_pairs())
      .Optional("progress", &o.progress())
      .Optional("threads", &o.threads());
  r.Finish();
  o.Check();
  return o;
}

// ---------------------------------------------------------------------------------------------- AdaIN

void MeanStd(const at::Tensor& features, at::Tensor* mean, at::Tensor* std, double eps) {
  NE_CHECK(features.dim() == 4, "AdaIN statistics: features must be [B,C,H,W], got ", features.sizes());
  const at::Tensor flat = features.flatten(2);  // [B,C,HW]
  *mean = flat.mean(2);
  *std = (flat.var(2, /*unbiased=*/false) + eps).sqrt();
}

at::Tensor AdaptiveInstanceNorm(const at::Tensor& content, const at::Tensor& style, double eps) {
  NE_CHECK(content.dim() == 4 && style.dim() == 4 && content.size(1) == style.size(1),
           "AdaIN: content ", content.sizes(), " and style ", style.sizes(), " must be [B,C,H,W] with equal C");
  at::Tensor cm, cs, sm, ss;
  MeanStd(content, &cm, &cs, eps);
  MeanStd(style, &sm, &ss, eps);
  auto e = [](const at::Tensor& t) { return t.unsqueeze(2).unsqueeze(3); };
  return e(ss) * (content - e(cm)) / e(cs) + e(sm);
}

AdainEncoderImpl::AdainEncoderImpl(int64_t width_divisor, bool torchvision_vgg, uint64_t seed) {
  NE_CHECK(width_divisor >= 1 && 64 % width_divisor == 0, "AdaIN encoder: width_divisor must divide 64, got ",
           width_divisor);
  NE_CHECK(!torchvision_vgg || width_divisor == 1, "AdaIN encoder: VGG-19 has width_divisor 1, got ", width_divisor);
  channels_ = 512 / width_divisor;
  if (torchvision_vgg) {
    vgg = register_module("vgg", Vgg19());
  } else {
    features = torch::nn::Sequential();
    at::Generator gen = at::detail::createCPUGenerator(seed);
    int64_t in = 3;
    int tap = 0, index = 0;
    const std::array<int, 4> first_of_block = {0, 3, 6, 11};  // positions in kLayoutToRelu41 of conv1_1 ... conv4_1
    for (int i = 0; i < static_cast<int>(std::size(kLayoutToRelu41)); ++i) {
      const int c = kLayoutToRelu41[i];
      if (c == 0) {
        features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
        ++index;
        continue;
      }
      const int64_t out = c / width_divisor;
      auto conv = Conv(in, out, /*reflect=*/false);  // zero padding, as VGG
      {
        torch::NoGradGuard no_grad;
        // He initialisation keeps the activations' scale through the ReLU stack, so every tap carries signal.
        conv->weight.copy_(at::normal(0.0, std::sqrt(2.0 / (in * 9)), conv->weight.sizes(), gen));
        conv->bias.copy_(at::normal(0.0, 0.01, conv->bias.sizes(), gen));
      }
      features->push_back(conv);
      features->push_back(torch::nn::ReLU());
      index += 2;
      if (tap < 4 && i == first_of_block[tap]) taps_[tap++] = index - 1;
      in = out;
    }
    register_module("features", features);
  }
  for (auto& p : parameters()) p.set_requires_grad(false);
}

StyleFeatures AdainEncoderImpl::forward(const at::Tensor& x) {
  NE_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) >= 8 && x.size(3) >= 8,
           "AdaIN encoder: input must be [B,3,H,W] with H, W >= 8, got ", x.sizes());
  const at::Tensor normalised = ImageNetNormalize(x);
  if (vgg) {
    const Vgg19Features v = vgg->forward(normalised, "relu4_1");
    return {v.relu1_1, v.relu2_1, v.relu3_1, v.relu4_1};
  }
  StyleFeatures out;
  at::Tensor h = normalised;
  int index = 0, next = 0;
  for (auto it = features->begin(); it != features->end() && next < 4; ++it, ++index) {
    h = it->forward(h);
    if (index == taps_[next]) out[next++] = h;
  }
  return out;
}

AdainDecoderImpl::AdainDecoderImpl(int64_t width_divisor) {
  NE_CHECK(width_divisor >= 1 && 64 % width_divisor == 0, "AdaIN decoder: width_divisor must divide 64, got ",
           width_divisor);
  const int64_t c1 = 64 / width_divisor, c2 = 128 / width_divisor, c3 = 256 / width_divisor, c4 = 512 / width_divisor;
  auto up = [] {
    return torch::nn::Upsample(
        torch::nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
  };
  layers = torch::nn::Sequential();
  auto conv_relu = [&](int64_t in, int64_t out) {
    layers->push_back(Conv(in, out, /*reflect=*/true));
    layers->push_back(torch::nn::ReLU());
  };
  conv_relu(c4, c3);
  layers->push_back(up());
  for (int i = 0; i < 3; ++i) conv_relu(c3, c3);
  conv_relu(c3, c2);
  layers->push_back(up());
  conv_relu(c2, c2);
  conv_relu(c2, c1);
  layers->push_back(up());
  conv_relu(c1, c1);
  layers->push_back(Conv(c1, 3, /*reflect=*/true));
  register_module("layers", layers);
}

at::Tensor AdainDecoderImpl::forward(const at::Tensor& t) { return layers->forward(t); }

AdainNetImpl::AdainNetImpl(const AdainOptions& options) : options_(options) {
  options_.Check();
  encoder = register_module(
      "encoder", AdainEncoder(options.width_divisor(), !options.vgg_weights().empty(), options.encoder_seed()));
  decoder = register_module("decoder", AdainDecoder(options.width_divisor()));
}

at::Tensor AdainNetImpl::Stylize(const at::Tensor& content, const at::Tensor& style, double alpha) {
  NE_CHECK(content.dim() == 4 && content.size(1) == 3 && content.size(2) >= 8 && content.size(3) >= 8,
           "AdaIN: content must be [B,3,H,W] with H, W >= 8, got ", content.sizes());
  NE_CHECK(style.dim() == 4 && style.size(1) == 3 && style.size(2) >= 8 && style.size(3) >= 8,
           "AdaIN: style must be [B,3,H,W] with H, W >= 8, got ", style.sizes());
  NE_CHECK(style.size(0) == 1 || style.size(0) == content.size(0), "AdaIN: ", style.size(0),
           " style images for ", content.size(0), " content images (expected 1 or as many)");
  NE_CHECK(alpha >= 0 && alpha <= 1, "AdaIN: alpha must be in [0,1], got ", alpha);
  const at::Tensor padded = PadToMultipleOf8(content);
  const at::Tensor fc = encoder->forward(padded)[3];
  const at::Tensor fs = encoder->forward(style)[3];
  at::Tensor t = AdaptiveInstanceNorm(fc, fs);
  if (alpha < 1) t = alpha * t + (1 - alpha) * fc;
  return decoder->forward(t).slice(2, 0, content.size(2)).slice(3, 0, content.size(3)).clamp(0, 1);
}

AdainLosses AdainNetImpl::Losses(const at::Tensor& content, const at::Tensor& style, bool identity) {
  NE_CHECK(content.dim() == 4 && content.size(2) % 8 == 0 && content.size(3) % 8 == 0,
           "AdaIN losses: content must be [B,3,H,W] with H, W multiples of 8, got ", content.sizes());
  const StyleFeatures fs = encoder->forward(style);
  const at::Tensor fc = encoder->forward(content)[3].detach();
  const at::Tensor t = AdaptiveInstanceNorm(fc, fs[3]).detach();
  AdainLosses out;
  if (identity) {
    const at::Tensor both = decoder->forward(torch::cat({t, fc}));
    out.output = both.slice(0, 0, t.size(0));
    out.identity = F::mse_loss(both.slice(0, t.size(0)), content);
  } else {
    out.output = decoder->forward(t);
  }
  const StyleFeatures fo = encoder->forward(out.output);
  // The paper writes Euclidean norms; its authors' code trains with mean squared errors, and λ = 10 goes with those.
  out.content = F::mse_loss(fo[3], t);
  out.style = torch::zeros({}, t.options());
  for (int i = 0; i < 4; ++i) {
    at::Tensor om, os, sm, ss;
    MeanStd(fo[i], &om, &os);
    MeanStd(fs[i], &sm, &ss);
    out.style = out.style + F::mse_loss(om, sm.expand_as(om)) + F::mse_loss(os, ss.expand_as(os));
  }
  return out;
}

double StyleStatisticsDistance(AdainEncoder& encoder, const at::Tensor& a, const at::Tensor& b) {
  torch::NoGradGuard no_grad;
  const StyleFeatures fa = encoder->forward(a), fb = encoder->forward(b);
  at::Tensor total = torch::zeros({a.size(0)});
  for (int i = 0; i < 4; ++i) {
    at::Tensor am, as, bm, bs;
    MeanStd(fa[i], &am, &as);
    MeanStd(fb[i], &bm, &bs);
    total += (am - bm).norm(2, 1) + (as - bs).norm(2, 1);
  }
  return total.mean().item<double>();
}

// ---------------------------------------------------------------------------------------------- data

at::Tensor RenderContentImage(uint64_t seed, int64_t size) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + 17);
  ProceduralScene scene;
  if (rng() % 4 == 0) {
    scene = DefaultScene();
  } else {
    static const char* kShapes[] = {"sphere", "box", "cylinder", "cone", "torus"};
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < n; ++k) {
      ProceduralObject o;
      o.name = "object " + std::to_string(k);
      o.shape = kShapes[rng() % 5];
      o.color = {static_cast<float>(Uniform(rng, 0.05, 1)), static_cast<float>(Uniform(rng, 0.05, 1)),
                 static_cast<float>(Uniform(rng, 0.05, 1))};
      const float r = static_cast<float>(Uniform(rng, 0.15, 0.4));
      o.size = {r, r, static_cast<float>(r * Uniform(rng, 0.6, 1.5))};
      if (o.shape == "torus") o.size[2] = r * static_cast<float>(Uniform(rng, 0.2, 0.4));
      o.center = {static_cast<float>(Uniform(rng, -0.9, 0.9)), static_cast<float>(Uniform(rng, -0.9, 0.9)),
                  o.size[2]};
      o.rotation_z = static_cast<float>(Uniform(rng, 0, M_PI));
      o.specular = static_cast<float>(Uniform(rng, 0, 0.4));
      scene.objects.push_back(o);
    }
    const float g = static_cast<float>(Uniform(rng, 0.3, 0.85));
    scene.ground_color_a = {g, g, static_cast<float>(g * Uniform(rng, 0.9, 1.1))};
    scene.ground_color_b = {g * 0.7f, g * 0.7f, g * 0.75f};
    const float b = static_cast<float>(Uniform(rng, 0.6, 1));
    scene.background = {b, b, static_cast<float>(Uniform(rng, 0.6, 1))};
    scene.Check();
  }
  const double azimuth = Uniform(rng, 0, 2 * M_PI), elevation = Uniform(rng, 0.17, 1.2),
               radius = Uniform(rng, 2.5, 5.0);
  const std::array<float, 3> target = {static_cast<float>(Uniform(rng, -0.3, 0.3)),
                                       static_cast<float>(Uniform(rng, -0.3, 0.3)), kLookAtHeight};
  const std::array<float, 3> eye = {
      target[0] + static_cast<float>(radius * std::cos(elevation) * std::cos(azimuth)),
      target[1] + static_cast<float>(radius * std::cos(elevation) * std::sin(azimuth)),
      target[2] + static_cast<float>(radius * std::sin(elevation))};
  const Camera camera = Camera::LookAt(eye, target, {0, 0, 1}, size, size, 40.0 * M_PI / 180.0);
  return RenderProcedural(scene, camera, 1).rgb.permute({2, 0, 1}).contiguous();
}

// ---------------------------------------------------------------------------------------------- training

nlohmann::json AdainTrainResult::ToJson() const {
  nlohmann::json c = nlohmann::json::array();
  for (const auto& p : curve) c.push_back({{"step", p[0]}, {"content", p[1]}, {"style", p[2]}});
  return {{"train_seconds", train_seconds},
          {"steps", steps},
          {"seconds_per_step", seconds_per_step},
          {"initial_content_loss", initial_content_loss},
          {"initial_style_loss", initial_style_loss},
          {"final_content_loss", final_content_loss},
          {"final_style_loss", final_style_loss},
          {"initial_identity_loss", initial_identity_loss},
          {"final_identity_loss", final_identity_loss},
          {"curve", c}};
}

namespace {

// Draws pool entries: procedural (content renders / style kinds) or, when the user gave images, a crop of one of
// theirs half of the time.
struct PoolMaker {
  const AdainOptions& options;
  std::vector<at::Tensor> user_contents, user_styles;

  at::Tensor Content(uint64_t seed) const {
    Rng rng(seed);
    if (!user_contents.empty() && (rng() & 1)) {
      return RandomStyleCrop(user_contents[rng() % user_contents.size()], options.image_size(), 2.0, rng());
    }
    return RenderContentImage(rng(), options.image_size());
  }
  at::Tensor Style(uint64_t seed) const {
    Rng rng(seed);
    if (!user_styles.empty() && (rng() & 1)) {
      return RandomStyleCrop(user_styles[rng() % user_styles.size()], options.image_size(), 2.0, rng());
    }
    const auto& names = ProceduralStyleNames();
    const std::string& name = names[rng() % names.size()];
    // Drawn larger and cropped, so the pattern's scale varies like a painting's crops do.
    const int64_t big = options.image_size() * 3 / 2;
    return RandomStyleCrop(ProceduralStyle(name, rng(), big, big), options.image_size(), 1.5, rng());
  }
};

struct EvalLosses {
  double content = 0, style = 0, identity = 0;
};

EvalLosses Evaluate(AdainNet& net, const at::Tensor& contents, const at::Tensor& styles) {
  torch::NoGradGuard no_grad;
  EvalLosses e;
  const int64_t n = contents.size(0), chunk = 8;
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t j = std::min(n, i + chunk);
    const AdainLosses l = net->Losses(contents.slice(0, i, j), styles.slice(0, i, j), /*identity=*/true);
    e.content += l.content.item<double>() * (j - i) / n;
    e.style += l.style.item<double>() * (j - i) / n;
    e.identity += l.identity.item<double>() * (j - i) / n;
  }
  return e;
}

void SaveAdain(AdainNet& net, const AdainOptions& options, const AdainTrainResult& result, const std::string& dir) {
  const std::string absolute = fs::absolute(dir).string();
  fs::create_directories(fs::path(absolute).parent_path());
  const std::string staging = TemporarySibling(absolute, ".tmp-");
  fs::remove_all(staging);
  fs::create_directories(staging);
  SaveSafetensors(staging + "/" + kWeightsFile, StateDict(*net), {{"format", "nerfedit-adain"}});
  const nlohmann::json j = {{"format_version", kAdainFormatVersion},
                            {"options", CacheKey(options)},
                            {"result", result.ToJson()}};
  WriteTextAtomically(staging + "/" + kTrainingJson, j.dump(1));
  const std::string old = TemporarySibling(absolute, ".old-");
  const bool had_old = fs::exists(absolute);
  if (had_old) fs::rename(absolute, old);
  fs::rename(staging, absolute);
  if (had_old) fs::remove_all(old);
}

}  // namespace

AdainTrainResult TrainAdain(const AdainOptions& options, const std::string& out_dir, AdainNet* trained) {
  options.Check();
  ConfigureThreads();
  std::unique_ptr<ScopedThreads> pinned;
  if (options.threads() > 0) pinned = std::make_unique<ScopedThreads>(1, options.threads());
  const double start = NowSeconds();
  AdainTrainResult result;
  torch::manual_seed(options.seed());
  AdainNet net(options);
  if (!options.vgg_weights().empty()) {
    Vgg19 vgg = LoadVgg19(options.vgg_weights());
    torch::NoGradGuard no_grad;
    auto src = vgg->named_parameters(), dst = net->encoder->vgg->named_parameters();
    for (const auto& p : src) dst[p.key()].copy_(p.value());
  }
  PoolMaker maker{options, LoadAll(options.content_images()), LoadAll(options.style_images())};

  // Seeds: pool entries draw from one stream; the held-out pairs from another (disjoint with high probability).
  Rng rng(options.seed() * 1000003 + 99);
  std::vector<at::Tensor> contents, styles;
  for (int64_t i = 0; i < options.content_pool(); ++i) contents.push_back(maker.Content(rng()));
  for (int64_t i = 0; i < options.style_pool(); ++i) styles.push_back(maker.Style(rng()));
  Rng eval_rng(options.seed() * 1000003 + 424242);
  std::vector<at::Tensor> eval_c, eval_s;
  for (int64_t i = 0; i < options.eval_pairs(); ++i) {
    eval_c.push_back(maker.Content(eval_rng()));
    eval_s.push_back(maker.Style(eval_rng()));
  }
  const at::Tensor eval_contents = torch::stack(eval_c), eval_styles = torch::stack(eval_s);
  net->eval();
  EvalLosses before = Evaluate(net, eval_contents, eval_styles);
  result.initial_content_loss = before.content;
  result.initial_style_loss = before.style;
  result.initial_identity_loss = before.identity;

  std::vector<at::Tensor> params;
  for (auto& p : net->decoder->parameters()) params.push_back(p);
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.lr()));
  std::unique_ptr<ProgressBar> bar;
  if (options.progress()) bar = std::make_unique<ProgressBar>("adain", options.steps(), "steps");
  const int64_t record_every = std::max<int64_t>(1, options.steps() / 20);
  double window_c = 0, window_s = 0;
  int64_t window_n = 0;
  const double loop_start = NowSeconds();
  int64_t step = 0;
  for (; step < options.steps(); ++step) {
    if (options.time_budget_seconds() > 0 && NowSeconds() - start > options.time_budget_seconds()) break;
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(options.lr() / (1.0 + options.lr_decay() * step));
    }
    std::vector<at::Tensor> bc, bs;
    for (int64_t b = 0; b < options.batch_size(); ++b) {
      bc.push_back(contents[rng() % contents.size()]);
      bs.push_back(styles[rng() % styles.size()]);
    }
    AdainLosses losses = net->Losses(torch::stack(bc), torch::stack(bs), options.identity_weight() > 0);
    at::Tensor loss = losses.content + options.style_weight() * losses.style;
    if (losses.identity.defined()) loss = loss + options.identity_weight() * losses.identity;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    window_c += losses.content.item<double>();
    window_s += losses.style.item<double>();
    ++window_n;
    if ((step + 1) % record_every == 0 || step + 1 == options.steps()) {
      result.curve.push_back({static_cast<double>(step + 1), window_c / window_n, window_s / window_n});
      window_c = window_s = 0;
      window_n = 0;
    }
    for (int64_t r = 0; r < options.refresh_per_step(); ++r) {
      contents[rng() % contents.size()] = maker.Content(rng());
      styles[rng() % styles.size()] = maker.Style(rng());
    }
    if (bar) {
      bar->Update(step + 1, c10::str("content ", losses.content.item<float>(), " style ", losses.style.item<float>()));
    }
  }
  if (window_n > 0) result.curve.push_back({static_cast<double>(step), window_c / window_n, window_s / window_n});
  result.steps = step;
  result.seconds_per_step = step > 0 ? (NowSeconds() - loop_start) / step : 0;
  if (bar) bar->Finish();
  net->eval();
  EvalLosses after = Evaluate(net, eval_contents, eval_styles);
  result.final_content_loss = after.content;
  result.final_style_loss = after.style;
  result.final_identity_loss = after.identity;
  result.train_seconds = NowSeconds() - start;
  if (!out_dir.empty()) SaveAdain(net, options, result, out_dir);
  if (trained != nullptr) *trained = net;
  return result;
}

AdainNet LoadAdain(const std::string& dir) {
  const std::string json_path = dir + "/" + kTrainingJson, weights = dir + "/" + kWeightsFile;
  NE_CHECK(fs::exists(json_path) && fs::exists(weights), "AdaIN folder ", dir, " needs ", kTrainingJson, " and ",
           kWeightsFile);
  const nlohmann::json j = ReadJsonFile(json_path);
  NE_CHECK(j.value("format_version", 0) == kAdainFormatVersion, "AdaIN folder ", dir, " has format_version ",
           j.value("format_version", 0), ", this nerfedit reads ", kAdainFormatVersion, " (retrain it)");
  AdainNet net(AdainOptions::FromJson(j.at("options")));
  LoadStateDict(*net, LoadSafetensors(weights), weights);
  net->eval();
  return net;
}

bool IsCurrentAdain(const std::string& dir, const AdainOptions& options) {
  const fs::path file = fs::path(dir) / kTrainingJson;
  if (!fs::exists(file) || !fs::exists(fs::path(dir) / kWeightsFile)) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(ReadTextFile(file.string()));
    return j.value("format_version", 0) == kAdainFormatVersion && j.at("options") == CacheKey(options);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string DefaultAdainDir() { return CacheDir("adain", "NERFEDIT_ADAIN"); }

AdainNet EnsureAdain(const AdainOptions& options, const std::string& dir, bool* trained_now) {
  if (IsCurrentAdain(dir, options)) {
    if (trained_now != nullptr) *trained_now = false;
    return LoadAdain(dir);
  }
  if (options.progress()) {
    std::fprintf(stderr, "training nerfedit's AdaIN decoder into %s (once; cached for later runs)\n", dir.c_str());
  }
  AdainNet net{nullptr};
  TrainAdain(options, dir, &net);
  if (trained_now != nullptr) *trained_now = true;
  return net;
}

}  // namespace nerfedit
