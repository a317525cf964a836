// `nerfedit category make`: a procedural object category with exact ground truth (data/category_scene.h), one
// training view per instance plus held-apart views, for category models (lolnerf).
#include <cstdio>

#include "app/cli_util.h"
#include "app/commands.h"
#include "data/category_scene.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

int RunCategory(int argc, char** argv) {
  CLI::App app{"Make a procedural object category (heads or chairs): one training view per instance from a random "
               "camera with its exact mask, depth, part labels and five 2D landmarks, plus held-apart views of every "
               "instance for evaluation (transforms.json + transforms_eval.json + category.json)."};
  app.name("nerfedit category");
  std::string action, out, kind = "heads", background = "auto";
  CategoryDatasetOptions options;
  int instances = options.instances(), size = options.size(), seed = options.seed(), eval_views = options.eval_views();
  double noise = options.landmark_noise_px();
  app.add_option("action", action, "what to do: make")->required()->check(CLI::IsMember({"make"}));
  app.add_option("--kind", kind, "heads | chairs")->check(CLI::IsMember({"heads", "chairs"}));
  app.add_option("--instances", instances, "number of objects (one training image each)")->check(Positive());
  app.add_option("--size", size, "image width and height in pixels")->check(Positive());
  app.add_option("--out", out, "output folder (must not exist or be empty)")->required();
  app.add_option("--seed", seed, "instances, cameras and backgrounds follow from (seed, index)");
  app.add_option("--landmark-noise", noise, "Gaussian noise on the 2D landmarks, pixels per coordinate")
      ->check(NonNegative());
  app.add_option("--eval-views", eval_views, "held-apart views per instance (0: none)")->check(NonNegative());
  app.add_option("--background", background, "auto (heads textured, chairs white) | textured | white")
      ->check(CLI::IsMember({"auto", "textured", "white"}));
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  options.kind(kind).instances(instances).size(size).seed(seed).landmark_noise_px(noise).eval_views(eval_views);
  options.background(background);
  options.Check();
  std::fprintf(stderr, "category: rendering %d %s at %dx%d (+%d held-apart views each, %d threads) into %s ...\n",
               instances, kind.c_str(), size, size, eval_views, ConfigureThreads(), out.c_str());
  const double start = NowSeconds();
  WriteCategoryDataset(options, out);
  std::printf("wrote %d %s (%d training + %d held-apart images of %dx%d) to %s in %.1f s\n", instances, kind.c_str(),
              instances, instances * eval_views, size, size, out.c_str(), NowSeconds() - start);
  return 0;
}

}  // namespace nerfedit
