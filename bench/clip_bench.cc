// Benchmarks behind bench/clip_small and bench/clip_latency.
//   clip_bench small [--minutes M] [--seed S] [--out DIR]   trains the small CLIP; last line zero_shot_top1=… train_s=…
//   clip_bench clip ...                                       the `nerfedit clip` command
//   clip_bench sample --class K --out F.png                  one captioned image
//   clip_bench profile                                        time one small-CLIP training step
//   clip_bench latency [--reps N]                             ViT-B/32 towers, random weights, this CPU
//   clip_bench dense --model DIR                              per-pixel text accuracy on default-scene views
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <vector>

#include "app/clip_command.h"
#include "data/image_io.h"
#include "data/procedural_scene.h"
#include "models2d/clip.h"
#include "models2d/small_clip.h"
#include "util/runtime.h"

namespace nerfedit {
namespace {

// The ViT-B/32 configuration (openai/clip-vit-base-patch32).
ClipConfig VitB32Config() {
  ClipConfig c;
  c.text.vocab_size = 49408;
  c.text.hidden_size = 512;
  c.text.intermediate_size = 2048;
  c.text.num_hidden_layers = 12;
  c.text.num_attention_heads = 8;
  c.text.max_position_embeddings = 77;
  c.text.hidden_act = "quick_gelu";
  c.text.layer_norm_eps = 1e-5;
  c.vision.hidden_size = 768;
  c.vision.intermediate_size = 3072;
  c.vision.num_hidden_layers = 12;
  c.vision.num_attention_heads = 12;
  c.vision.image_size = 224;
  c.vision.patch_size = 32;
  c.vision.num_channels = 3;
  c.vision.hidden_act = "quick_gelu";
  c.vision.layer_norm_eps = 1e-5;
  c.projection_dim = 512;
  c.logit_scale_init_value = 2.6592;
  return c;
}

// Median wall time of `reps` calls in milliseconds, after one warm-up call.
template <typename F>
double MedianMs(int reps, F&& f) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const double t = NowSeconds();
    f();
    ms.push_back(1000.0 * (NowSeconds() - t));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int Latency(int reps) {
  const int threads = ConfigureThreads();
  torch::manual_seed(0);
  const ClipConfig config = VitB32Config();
  ClipModel model(config);
  model->eval();
  c10::InferenceMode inference;
  const at::Tensor image1 = torch::randn({1, 3, 224, 224});
  const at::Tensor image32 = torch::randn({32, 3, 224, 224});
  // Texts of 6..30 tokens: start, random word ids, end, zero padding (as clip.tokenize gives).
  at::Tensor ids = torch::zeros({32, 77}, torch::kLong);
  for (int64_t b = 0; b < 32; ++b) {
    const int64_t length = 6 + (b * 7) % 25;
    ids[b][0] = 49406;
    ids[b].slice(0, 1, length - 1).copy_(torch::randint(1, 49406, {length - 2}, torch::kLong));
    ids[b][length - 1] = 49407;
  }
  std::printf("# ViT-B/32 config, random weights, float32, %d threads\n", threads);
  const double image_b1 = MedianMs(reps * 3, [&] { model->EncodeImage(image1); });
  std::printf("# EncodeImage batch 1:  %.1f ms\n", image_b1);
  const double image_b32 = MedianMs(reps, [&] { model->EncodeImage(image32); });
  std::printf("# EncodeImage batch 32: %.1f ms\n", image_b32);
  const double text_b32 = MedianMs(reps, [&] { model->EncodeText(ids); });
  std::printf("# EncodeText batch 32:  %.1f ms\n", text_b32);
  std::printf("# ref_ratio: not measured; the side-by-side transformers reference runs on a device machine, which "
              "this task does not have\n");
  std::printf("image_ms_b1=%.1f image_ms_b32=%.1f text_ms_b32=%.1f device=cpu\n", image_b1, image_b32, text_b32);
  return 0;
}

// Where one training step of the default small CLIP spends its time (forward, backward, optimiser).
int Profile() {
  const int threads = ConfigureThreads();
  torch::manual_seed(0);
  const SmallClipOptions options;
  ClipModel model(options.MakeClipConfig(600, 599));
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4));
  const int64_t b = options.batch_size();
  const at::Tensor images = torch::randn({b, 3, options.image_size(), options.image_size()});
  at::Tensor ids = torch::randint(1, 598, {b, options.context_length()}, torch::kLong);
  ids.select(1, 6).fill_(599);
  std::printf("# %d threads, batch %lld\n", threads, static_cast<long long>(b));
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = NowSeconds();
    at::Tensor image = model->EncodeImage(images);
    double t1 = NowSeconds();
    at::Tensor text = model->EncodeText(ids);
    double t2 = NowSeconds();
    at::Tensor loss = torch::nn::functional::cross_entropy(model->logit_scale.exp() * image.mm(text.t()),
                                                           torch::arange(b, torch::kLong));
    optimizer.zero_grad();
    loss.backward();
    double t3 = NowSeconds();
    optimizer.step();
    double t4 = NowSeconds();
    std::printf("image fwd %.0f ms, text fwd %.0f ms, backward %.0f ms, step %.0f ms\n", 1e3 * (t1 - t0),
                1e3 * (t2 - t1), 1e3 * (t3 - t2), 1e3 * (t4 - t3));
  }
  return 0;
}

// The default scene's objects as the feature-field pipeline queries them, in DefaultScene() object order.
const std::vector<std::string> kSceneQueries = {"red sphere", "blue cube", "green cylinder", "yellow cone",
                                                "purple torus"};

// Per-pixel features of an image [H,W,3] in [0,1] from MaskCLIP dense patch embeddings computed at input size
// `input` (bilinearly upsampled to H x W): [H,W,P] unit length.
at::Tensor DensePixelFeatures(ClipModel model, const at::Tensor& rgb, int64_t input) {
  namespace F = torch::nn::functional;
  const at::Tensor patches = model->DensePatchEmbeddings(ClipPreprocess(rgb, input).unsqueeze(0));  // [1,h,w,P]
  at::Tensor up = F::interpolate(patches.permute({0, 3, 1, 2}),
                                 F::InterpolateFuncOptions()
                                     .size(std::vector<int64_t>{rgb.size(0), rgb.size(1)})
                                     .mode(torch::kBilinear)
                                     .align_corners(false));
  return F::normalize(up[0].permute({1, 2, 0}), F::NormalizeFuncOptions().dim(-1));
}

// Per-pixel features from the image embeddings of sliding windows (window x window pixels, stride window/4),
// each pixel taking the Gaussian-weighted (by distance to the window centre) mean of the windows covering it.
at::Tensor CropPixelFeatures(ClipModel model, const at::Tensor& rgb, int64_t window, int64_t input) {
  namespace F = torch::nn::functional;
  const int64_t h = rgb.size(0), w = rgb.size(1), stride = std::max<int64_t>(1, window / 4);
  std::vector<at::Tensor> crops;
  std::vector<std::pair<int64_t, int64_t>> corners;
  for (int64_t y = -window / 2; y + window / 2 <= h; y += stride) {
    for (int64_t x = -window / 2; x + window / 2 <= w; x += stride) {
      // Windows may hang over the border by half; the missing part is edge-replicated.
      const at::Tensor chw = rgb.permute({2, 0, 1}).unsqueeze(0);
      const int64_t top = std::max<int64_t>(0, -y), left = std::max<int64_t>(0, -x);
      const int64_t bottom = std::max<int64_t>(0, y + window - h), right = std::max<int64_t>(0, x + window - w);
      at::Tensor crop = chw.slice(2, std::max<int64_t>(0, y), std::min(h, y + window))
                            .slice(3, std::max<int64_t>(0, x), std::min(w, x + window));
      crop = F::pad(crop, F::PadFuncOptions({left, right, top, bottom}).mode(torch::kReplicate));
      crops.push_back(ClipPreprocess(crop[0].permute({1, 2, 0}), input));
      corners.emplace_back(y, x);
    }
  }
  at::Tensor embeds;
  {
    std::vector<at::Tensor> parts;
    const at::Tensor all = torch::stack(crops);
    for (int64_t b = 0; b < all.size(0); b += 128) parts.push_back(model->EncodeImage(all.slice(0, b, b + 128)));
    embeds = torch::cat(parts);  // [N,P]
  }
  at::Tensor sum = torch::zeros({h, w, embeds.size(1)});
  at::Tensor weight_sum = torch::zeros({h, w, 1});
  const at::Tensor r = torch::arange(window, torch::kFloat) - (window - 1) / 2.0;
  const at::Tensor g = torch::exp(-(r.view({-1, 1}).pow(2) + r.view({1, -1}).pow(2)) / (2.0 * std::pow(window / 4.0, 2)));
  for (size_t i = 0; i < corners.size(); ++i) {
    const auto [y, x] = corners[i];
    const int64_t y0 = std::max<int64_t>(0, y), y1 = std::min(h, y + window);
    const int64_t x0 = std::max<int64_t>(0, x), x1 = std::min(w, x + window);
    const at::Tensor gw = g.slice(0, y0 - y, y1 - y).slice(1, x0 - x, x1 - x).unsqueeze(-1);
    sum.slice(0, y0, y1).slice(1, x0, x1) += gw * embeds[i];
    weight_sum.slice(0, y0, y1).slice(1, x0, x1) += gw;
  }
  return F::normalize(sum / weight_sum.clamp_min(1e-8), F::NormalizeFuncOptions().dim(-1));
}

// Accuracy of argmax over the five object queries on the object pixels (labels >= 2) of `views` default-scene
// views at `size` x `size`, for dense patch features and for sliding-window crop features.
int Dense(const std::string& model_dir, int views, int64_t size) {
  ConfigureThreads();
  ClipBundle bundle = LoadClipBundle(model_dir);
  torch::NoGradGuard no_grad;
  const int64_t input = bundle.config.vision.image_size;
  const at::Tensor text = bundle.model->EncodeText(
      bundle.tokenizer.Tokenize(kSceneQueries, bundle.config.text.max_position_embeddings));  // [5,P]
  const ProceduralScene scene = DefaultScene();
  const std::vector<Camera> cameras =
      HemisphereCameras(ProceduralDatasetOptions().num_views(views).width(size).height(size).seed(7));
  struct Method {
    std::string name;
    std::function<at::Tensor(const at::Tensor&)> features;
    int64_t correct = 0, total = 0;
  };
  std::vector<Method> methods = {
      {"dense@" + std::to_string(input), [&](const at::Tensor& rgb) { return DensePixelFeatures(bundle.model, rgb, input); }},
      {"dense@" + std::to_string(2 * input),
       [&](const at::Tensor& rgb) { return DensePixelFeatures(bundle.model, rgb, 2 * input); }},
      {"crops" + std::to_string(size / 4), [&](const at::Tensor& rgb) { return CropPixelFeatures(bundle.model, rgb, size / 4, input); }},
      {"crops" + std::to_string(size / 2), [&](const at::Tensor& rgb) { return CropPixelFeatures(bundle.model, rgb, size / 2, input); }},
  };
  for (const Camera& camera : cameras) {
    const ProceduralRender render = RenderProcedural(scene, camera, 2);
    const at::Tensor object = render.labels.ge(2);
    const at::Tensor truth = (render.labels.index({object}) - 2).to(torch::kLong);
    for (Method& m : methods) {
      const at::Tensor predicted = m.features(render.rgb).index({object}).mm(text.t()).argmax(1);
      m.correct += predicted.eq(truth).sum().item<int64_t>();
      m.total += truth.numel();
    }
  }
  std::printf("# %d default-scene views at %lldx%lld, 5 object queries, chance ~0.2\n", views,
              static_cast<long long>(size), static_cast<long long>(size));
  for (const Method& m : methods) {
    std::printf("%s_pixel_acc=%.4f ", m.name.c_str(), m.total ? static_cast<double>(m.correct) / m.total : 0.0);
  }
  std::printf("\n");
  return 0;
}

int Small(double minutes, uint64_t seed, const std::string& out, const std::string& options_json) {
  SmallClipOptions options;
  if (!options_json.empty()) options = SmallClipOptions::FromJson(nlohmann::json::parse(options_json));
  options.time_budget_seconds(minutes * 60.0).seed(seed);
  std::printf("# small CLIP: %s\n", options.ToJson().dump().c_str());
  std::fflush(stdout);
  const SmallClipResult result = TrainSmallClip(options, out);
  std::printf("# %s\n", result.ToJson().dump().c_str());
  std::printf("zero_shot_top1=%.4f train_s=%.1f\n", result.zero_shot_top1, result.train_seconds);
  return 0;
}

}  // namespace
}  // namespace nerfedit

int main(int argc, char** argv) {
  // `clip_bench clip train|embed|rank ...` runs the `nerfedit clip` command itself (for smoke tests without the app).
  if (argc >= 2 && std::string(argv[1]) == "clip") return nerfedit::RunClip(argc - 1, argv + 1);
  CLI::App app{"nerfedit CLIP benchmarks"};
  app.require_subcommand(1);
  double minutes = 9.0;
  uint64_t seed = 0;
  std::string out;
  int reps = 3;
  CLI::App* small = app.add_subcommand("small", "Train the small procedural CLIP and report zero-shot top-1");
  small->add_option("--minutes", minutes, "Budget in minutes")->capture_default_str();
  small->add_option("--seed", seed, "Seed")->capture_default_str();
  small->add_option("--out", out, "Where to save the model (default: not saved)");
  std::string options_json;
  small->add_option("--options", options_json, "SmallClipOptions overrides as JSON, e.g. '{\"batch_size\":64}'");
  CLI::App* latency = app.add_subcommand("latency", "Time the ViT-B/32 towers with random weights");
  latency->add_option("--reps", reps, "Timed repetitions (batch 1 runs three times as many)")->capture_default_str();
  CLI::App* sample = app.add_subcommand("sample", "Render one held-out-style caption image to a PNG (smoke tests)");
  int64_t sample_class = 0, sample_size = 64;
  std::string sample_out;
  sample->add_option("--class", sample_class, "Object class index (see FullCaptions order)");
  sample->add_option("--size", sample_size, "Image size")->capture_default_str();
  sample->add_option("--out", sample_out, "PNG path")->required();
  CLI::App* profile = app.add_subcommand("profile", "Time the parts of one small-CLIP training step");
  CLI::App* dense = app.add_subcommand("dense", "Per-pixel accuracy of the five default-scene object queries");
  std::string dense_model;
  int dense_views = 8;
  int64_t dense_size = 128;
  dense->add_option("--model", dense_model, "CLIP directory")->required();
  dense->add_option("--views", dense_views, "Default-scene views")->capture_default_str();
  dense->add_option("--size", dense_size, "View size in pixels")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (small->parsed()) return nerfedit::Small(minutes, seed, out, options_json);
    if (profile->parsed()) return nerfedit::Profile();
    if (dense->parsed()) return nerfedit::Dense(dense_model, dense_views, dense_size);
    if (sample->parsed()) {
      const auto c = nerfedit::ObjectClassAt(sample_class);
      nerfedit::SaveImage(sample_out, nerfedit::RenderCaptionedImage(c, 987654321ull + sample_class, sample_size).rgb);
      std::printf("%s: %s\n", sample_out.c_str(), nerfedit::MakeCaption(c, nerfedit::CaptionTemplate::kFull).c_str());
      return 0;
    }
    return nerfedit::Latency(reps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clip_bench: %s\n", e.what());
    return 1;
  }
}
