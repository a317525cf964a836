// `nerfedit stylize image`: the 2D stylisation network (AdaIN) alone on one image. StylizedNeRF's 3D commands
// (`stylize train`) join here.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "app/commands.h"
#include "data/image_io.h"
#include "data/style_images.h"
#include "models2d/adain.h"
#include "util/error.h"
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
  NE_CHECK(content.size(1) >= 8 && content.size(2) >= 8, "stylize image: input ", a.input, " is ", content.size(2),
           "x", content.size(1), ", at least 8x8 is needed");
  at::Tensor style = ResolveStyle(a.style, a.style_size > 0 ? a.style_size : 128, a.style_size > 0 ? a.style_size : 128);
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
  image->add_option("--style-size", a.style_size,
                    "Shorter side the style image is resized to (0 = as is); the default net learnt styles at 64-96 px")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  image->add_option("--model", a.model, "A saved AdaIN folder (model.safetensors + adain_training.json)")
      ->check(CLI::ExistingDirectory);
  image->add_option("--vgg", a.vgg,
                    "torchvision VGG-19 weights (safetensors): train/use a decoder for the real VGG-19 encoder");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ConfigureThreads();
  return RunStylizeImage(a);
}

}  // namespace nerfedit
