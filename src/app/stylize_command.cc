// `nerfedit stylize image`: the 2D stylisation network (AdaIN) alone on one image; `nerfedit stylize train`:
// StylizedNeRF on a trained nerf run (methods/stylize), rendered afterwards by `nerfedit render SRUN --style K`.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/cli_util.h"
#include "app/commands.h"
#include "data/image_io.h"
#include "data/style_images.h"
#include "engine/run_folder.h"
#include "methods/method_registry.h"
#include "methods/stylize/stylize_config.h"
#include "models2d/adain.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

// image [3,H,W] resized so that its shorter side is `shorter` (area filter when shrinking).
at::Tensor ResizeShorterSide(const at::Tensor& image, int64_t shorter) {
  const double scale = static_cast<double>(shorter) / std::min(image.size(1), image.size(2));
  const int64_t h = std::max<int64_t>(8, std::lround(image.size(1) * scale));
  const int64_t w = std::max<int64_t>(8, std::lround(image.size(2) * scale));
  auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w});
  if (scale < 1) {
    options.mode(torch::kArea);
  } else {
    options.mode(torch::kBilinear).align_corners(false);
  }
  return F::interpolate(image.unsqueeze(0), options)[0].clamp(0, 1);
}

struct ImageArgs {
  std::string style, input, output, model, vgg;
  double alpha = 1.0;
  int64_t style_size = 128;
};

int RunStylizeImage(const ImageArgs& a) {
  NE_CHECK(fs::exists(a.input), "stylize image: input ", a.input, " does not exist");
  const std::string ext = fs::path(a.output).extension().string();
  NE_CHECK(ext == ".png" || ext == ".jpg" || ext == ".jpeg", "stylize image: output ", a.output,
           " must end in .png, .jpg or .jpeg");
  const fs::path out_parent = fs::absolute(a.output).parent_path();
  NE_CHECK(fs::is_directory(out_parent), "stylize image: the folder of ", a.output, " (", out_parent.string(),
           ") does not exist");
  // Check both images before a first-use training run spends minutes.
  at::Tensor content;
  try {
    content = LoadImageFloat(a.input, {1.0f, 1.0f, 1.0f}).permute({2, 0, 1});  // [3,H,W]
  } catch (const std::exception& e) {
    NE_FAIL("stylize image: input ", a.input, " is not a readable PNG/JPEG image: ", e.what());
  }
  NE_CHECK(content.size(1) >= 8 && content.size(2) >= 8, "stylize image: input ", a.input, " is ", content.size(2), "x",
           content.size(1), ", at least 8x8 is needed");
  at::Tensor style =
      ResolveStyle(a.style, a.style_size > 0 ? a.style_size : 128, a.style_size > 0 ? a.style_size : 128);
  if (a.style_size > 0) style = ResizeShorterSide(style, a.style_size);
  NE_CHECK(style.size(1) >= 8 && style.size(2) >= 8, "stylize image: style ", a.style, " is ", style.size(2), "x",
           style.size(1), ", at least 8x8 is needed");

  AdainNet net{nullptr};
  if (!a.model.empty()) {
    net = LoadAdain(a.model);
  } else {
    AdainOptions options;
    std::string dir = DefaultAdainDir();
    if (!a.vgg.empty()) {
      NE_CHECK(fs::exists(a.vgg), "stylize image: --vgg ", a.vgg, " does not exist");
      options.width_divisor(1).vgg_weights(fs::absolute(a.vgg).string());
      dir += "_vgg19";
    }
    net = EnsureAdain(options, dir);
  }
  torch::NoGradGuard no_grad;
  const double start = NowSeconds();
  const at::Tensor out = net->Stylize(content.unsqueeze(0), style.unsqueeze(0), a.alpha)[0];
  SaveImage(a.output, out.permute({1, 2, 0}).contiguous());
  std::printf("wrote %s (%lldx%lld, style %s, %.2f s)\n", a.output.c_str(), static_cast<long long>(out.size(2)),
              static_cast<long long>(out.size(1)), a.style.c_str(), NowSeconds() - start);
  return 0;
}

struct TrainArgs {
  std::string run, out, config, preset = "cpu", adain, resume, device;
  std::vector<std::string> styles;
  int64_t steps = 0, image_size = 0, views = -1;
  double time_budget = 0;
  int threads = 0;
  bool quiet = false;
};

int RunStylizeTrain(const TrainArgs& a) {
  TrainerOptions options;
  options.quiet = a.quiet;
  nlohmann::json overrides = nlohmann::json::object();
  if (a.steps > 0) overrides["steps"] = a.steps;
  if (a.time_budget > 0) overrides["time_budget_s"] = a.time_budget;
  if (a.threads > 0) overrides["threads"] = a.threads;
  if (!a.device.empty()) overrides["device"] = a.device;
  std::unique_ptr<Trainer> trainer;
  if (!a.resume.empty()) {
    NE_CHECK(a.styles.empty() && a.run.empty(), "stylize train --resume: the run keeps its nerf run and styles");
    trainer = ResumeTraining(a.resume, overrides, options);
  } else {
    NE_CHECK(!a.run.empty(),
             "stylize train: give the trained nerf run (nerfedit stylize train RUN --style S --out SRUN)");
    NE_CHECK(!a.out.empty(), "stylize train: --out SRUN is required");
    NE_CHECK(!a.styles.empty(), "stylize train: no styles: give at least one --style (an image or procedural:NAME)");
    nlohmann::json user = StylizeConfig::ForPreset(a.preset).ToJson();
    if (!a.config.empty()) {
      const nlohmann::json file = ReadJsonFile(a.config);
      NE_CHECK(file.is_object(), a.config, ": expected a JSON object of stylize config keys");
      user = MergeConfig(user, file);
    }
    user["nerf_run"] = fs::absolute(a.run).string();
    std::vector<std::string> styles;
    for (const auto& s : a.styles) styles.push_back(s.rfind("procedural:", 0) == 0 ? s : fs::absolute(s).string());
    user["styles"] = styles;
    if (!a.adain.empty()) user["adain_model"] = fs::absolute(a.adain).string();
    if (a.image_size > 0) user["image_size"] = a.image_size;
    if (a.views >= 0) user["num_views"] = a.views;
    trainer = StartTraining("stylize", MergeConfig(user, overrides), a.out, options);
  }
  const TrainResult result = trainer->Train();
  std::printf("summary: %s\n", result.summary.dump().c_str());
  std::printf("render it: nerfedit render %s --style K --orbit 36 --out DIR\n", trainer->run_dir().c_str());
  return 0;
}

struct AddStyleArgs {
  std::string run, out;
  std::vector<std::string> styles;
  int64_t steps = 200;
  double time_budget = 0;
  int threads = 0;
  bool quiet = false;
};

// One more style (or several) for a trained stylized run: a new run that starts from it (StylizeConfig::extend_run).
int RunStylizeAddStyle(const AddStyleArgs& a) {
  NE_CHECK(!a.styles.empty(), "stylize add-style: no styles: give at least one --style (an image or procedural:NAME)");
  const RunHeader header = ReadRunJson(a.run);
  NE_CHECK(header.method == "stylize", "stylize add-style: ", a.run, " is a ", header.method,
           " run, not a stylized run (make one with nerfedit stylize train)");
  nlohmann::json user = header.config;
  std::vector<std::string> styles = user["styles"].get<std::vector<std::string>>();
  for (const auto& s : a.styles) styles.push_back(s.rfind("procedural:", 0) == 0 ? s : fs::absolute(s).string());
  user["styles"] = styles;
  user["extend_run"] = fs::absolute(a.run).string();
  user["steps"] = a.steps;
  user["time_budget_s"] = a.time_budget;
  if (a.threads > 0) user["threads"] = a.threads;
  TrainerOptions options;
  options.quiet = a.quiet;
  const double start = NowSeconds();
  auto trainer = StartTraining("stylize", user, a.out, options);
  const TrainResult result = trainer->Train();
  std::printf("summary: %s\n", result.summary.dump().c_str());
  std::printf("added %zu style(s) in %.1f s: styles %zu.. of %s\n", a.styles.size(), NowSeconds() - start,
              styles.size() - a.styles.size(), trainer->run_dir().c_str());
  return 0;
}

}  // namespace

int RunStylize(int argc, char** argv) {
  CLI::App app{"Stylise images after a style image (AdaIN; StylizedNeRF's 2D network).", "nerfedit stylize"};
  app.require_subcommand(1);
  CLI::App* image = app.add_subcommand(
      "image", "Stylise one image with the 2D network alone (trains and caches nerfedit's default AdaIN on first use)");
  ImageArgs a;
  std::string styles_help = "Style: an image file (PNG/JPEG) or procedural:NAME[:SEED] with NAME one of";
  for (const auto& n : ProceduralStyleNames()) styles_help += " " + n;
  image->add_option("--style", a.style, styles_help)->required();
  image->add_option("input", a.input, "Content image (PNG/JPEG)")->required();
  image->add_option("output", a.output, "Output image (.png/.jpg)")->required();
  image->add_option("--alpha", a.alpha, "Content (0) to style (1) trade-off")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  image
      ->add_option("--style-size", a.style_size,
                   "Shorter side the style image is resized to (0 = as is); the default net learnt styles at 64-96 px")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  image->add_option("--model", a.model, "A saved AdaIN folder (model.safetensors + adain_training.json)")
      ->check(CLI::ExistingDirectory);
  image->add_option("--vgg", a.vgg,
                    "torchvision VGG-19 weights (safetensors): train/use a decoder for the real VGG-19 encoder");
  CLI::App* train = app.add_subcommand(
      "train",
      "StylizedNeRF: restyle a trained nerf run after one or more style images (its density stays frozen; "
      "a style module with per-(style, view) latents learns from the 2D network, which learns consistency "
      "back). Render with `nerfedit render SRUN --style K --orbit N --out DIR`.");
  TrainArgs t;
  train->add_option("run", t.run, "a trained nerf run (nerfedit train)");
  train->add_option("--style", t.styles, styles_help + " (repeat for several styles in one run)");
  train->add_option("--out", t.out, "the stylized run folder to write (must not exist)");
  train->add_option("--resume", t.resume, "continue a stylized run from its checkpoint");
  train->add_option("--config", t.config, "JSON of StylizeConfig keys (methods/stylize/stylize_config.h)");
  train->add_option("--preset", t.preset, "cpu (64-px views, 4x64 style module) | paper (the authors' sizes)")
      ->check(CLI::IsMember({"cpu", "paper"}));
  train
      ->add_option("--adain", t.adain,
                   "a saved AdaIN folder (default: nerfedit's cached network, trained on first use)")
      ->check(CLI::ExistingDirectory);
  train->add_option("--steps", t.steps, "training steps")->check(Positive());
  train->add_option("--time-budget", t.time_budget, "seconds of training")->check(Positive());
  train->add_option("--image-size", t.image_size, "longer side of the training views (a multiple of 8)")
      ->check(Positive());
  train->add_option("--views", t.views, "training views used (0 = all)")->check(NonNegative());
  train->add_option("--threads", t.threads, "torch threads while training")->check(Positive());
  train->add_option("--device", t.device, "cpu | cuda | auto");
  train->add_flag("--quiet", t.quiet, "no progress bar");
  CLI::App* add = app.add_subcommand(
      "add-style",
      "Add styles to a trained stylized run: a new run starting from it (style module, latents, VAE prior and "
      "decoder), trained briefly with half its steps on the new styles");
  AddStyleArgs s;
  add->add_option("run", s.run, "a stylized run (nerfedit stylize train)")->required()->check(CLI::ExistingDirectory);
  add->add_option("--style", s.styles, styles_help + " (repeat for several)")->required();
  add->add_option("--out", s.out, "the new stylized run folder (must not exist)")->required();
  add->add_option("--steps", s.steps, "training steps")->capture_default_str()->check(Positive());
  add->add_option("--time-budget", s.time_budget, "seconds of training")->check(Positive());
  add->add_option("--threads", s.threads, "torch threads while training")->check(Positive());
  add->add_flag("--quiet", s.quiet, "no progress bar");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  ConfigureThreads();
  if (train->parsed()) return RunStylizeTrain(t);
  if (add->parsed()) return RunStylizeAddStyle(s);
  return RunStylizeImage(a);
}

}  // namespace nerfedit
