// `scene`, `train`, `render` and `eval`: the nerf pipeline's commands.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "app/cli_util.h"
#include "app/commands.h"
#include "data/image_io.h"
#include "data/procedural_scene.h"
#include "methods/dff/random_scenes.h"
#include "methods/method_registry.h"
#include "methods/nerf/nerf_eval.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/progress_bar.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

int RunScene(int argc, char** argv) {
  CLI::App app{"Make the built-in procedural scene: a textured ground and named objects ray-traced from N cameras "
               "on a hemisphere, written as transforms.json + images + exact depth (.npy) and labels (.png)."};
  app.name("nerfedit scene");
  std::string action, out, scene_file;
  ProceduralDatasetOptions options;
  int views = options.num_views(), width = options.width(), height = options.height(), seed = options.seed();
  app.add_option("action", action, "what to do: make")->required()->check(CLI::IsMember({"make"}));
  app.add_option("--out", out, "output folder (must not exist)")->required();
  app.add_option("--views", views, "number of cameras")->check(Positive());
  app.add_option("--width", width, "image width")->check(Positive());
  app.add_option("--height", height, "image height")->check(Positive());
  app.add_option("--seed", seed, "camera placement seed");
  app.add_option("--scene", scene_file, "scene description JSON (default: the built-in five-object scene)");
  bool no_alpha = false;
  app.add_flag("--no-alpha", no_alpha,
               "write RGB images composited on the background (default: RGBA, transparent where rays miss, so "
               "training can use random backgrounds)");
  int64_t random_seed = -1;
  app.add_option("--random", random_seed,
                 "a seeded random scene instead (3-6 objects with a same-colour pair, a same-shape pair and a white "
                 "or grey object; bench/dff_random's scenes)")
      ->check(NonNegative());
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  NE_CHECK(random_seed < 0 || scene_file.empty(), "give --scene or --random, not both");
  options.alpha(!no_alpha);
  ProceduralScene scene = DefaultScene();
  if (!scene_file.empty()) scene = ProceduralScene::FromJson(ReadJsonFile(scene_file));
  if (random_seed >= 0) scene = MakeRandomQueryScene(static_cast<uint64_t>(random_seed)).scene;
  const double start = NowSeconds();
  WriteProceduralDataset(scene, options.num_views(views).width(width).height(height).seed(seed), out);
  std::printf("wrote %d views of %dx%d to %s in %.1f s\n", views, width, height, out.c_str(), NowSeconds() - start);
  return 0;
}

namespace {

// Cameras on a circle around the scene centre at the training cameras' mean distance and elevation: the whole
// circle, or an arc of arc_degrees centred on the first training camera's azimuth (a face turned through +-40 deg).
std::vector<Camera> OrbitCameras(const std::vector<Camera>& training, const at::Tensor& aabb, int frames, int64_t width,
                                 int64_t height, double arc_degrees) {
  NE_CHECK(!training.empty(), "the run has no training cameras to derive an orbit from");
  auto center = (aabb[0] + aabb[1]) * 0.5f;
  at::Tensor up = at::zeros({3});
  double radius = 0, height_above = 0;
  for (const auto& c : training) {
    up += c.world_from_cam.index({at::indexing::Slice(0, 3), 1});
  }
  up = up / up.norm();
  for (const auto& c : training) {
    auto offset = c.Center() - center;
    height_above += (offset * up).sum().item<double>() / training.size();
    radius += (offset - (offset * up).sum() * up).norm().item<double>() / training.size();
  }
  // Two horizontal axes perpendicular to up.
  auto helper = std::abs(up[0].item<float>()) < 0.9f ? at::tensor({1.f, 0.f, 0.f}) : at::tensor({0.f, 1.f, 0.f});
  auto a = at::cross(up, helper, 0);
  a = a / a.norm();
  auto b = at::cross(up, a, 0);
  const double fov = 2 * std::atan(0.5 * training[0].width / training[0].fx);
  std::vector<Camera> cameras;
  const at::Tensor first = training[0].Center() - center;
  const double first_azimuth = std::atan2((first * b).sum().item<double>(), (first * a).sum().item<double>());
  const double arc = arc_degrees * M_PI / 180;
  for (int i = 0; i < frames; ++i) {
    const double angle = arc_degrees >= 360 ? 2 * M_PI * i / frames
                                            : first_azimuth + arc * (frames > 1 ? double(i) / (frames - 1) - 0.5 : 0.0);
    auto eye = center + radius * (std::cos(angle) * a + std::sin(angle) * b) + height_above * up;
    auto e = eye.contiguous();
    auto c = center.contiguous();
    auto u = up.contiguous();
    cameras.push_back(Camera::LookAt({e[0].item<float>(), e[1].item<float>(), e[2].item<float>()},
                                     {c[0].item<float>(), c[1].item<float>(), c[2].item<float>()},
                                     {u[0].item<float>(), u[1].item<float>(), u[2].item<float>()}, width, height, fov));
  }
  return cameras;
}

void SaveView(const RenderedView& view, const std::string& stem, bool depth, bool opacity, const at::Tensor& aabb) {
  SaveImage(stem + ".png", view.rgb);
  const double far = (aabb[1] - aabb[0]).norm().item<double>() * 2;
  if (depth) SaveImage(stem + "_depth.png", DepthToImage(view.depth / view.opacity.clamp_min(1e-6f), 0.0, far));
  if (opacity) SaveImage(stem + "_opacity.png", view.opacity.unsqueeze(-1).expand({-1, -1, 3}).contiguous());
}

}  // namespace

int RunRender(int argc, char** argv) {
  CLI::App app{"Render a trained run: chosen training views and/or an orbit path, as PNG frames with optional depth "
               "and opacity maps."};
  app.name("nerfedit render");
  std::string run, out, views, device = "auto";
  int orbit = 0;
  int64_t style = -1;
  double arc = 360;
  int64_t width = 0, height = 0;
  bool depth = false, opacity = false;
  app.add_option("run", run, "run folder")->required();
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--views", views, "training view indices to render, e.g. 0,5,9 (or \"all\")");
  app.add_option("--orbit", orbit, "frames of an orbit around the scene");
  app.add_option("--arc", arc, "degrees the orbit sweeps: 360 = the whole circle; less = an arc centred on the first "
                 "training camera (e.g. 80: a face turned through +-40 degrees)")
      ->check(CLI::Range(1.0, 360.0));
  app.add_option("--width", width, "orbit frame width (default: training width)");
  app.add_option("--height", height, "orbit frame height (default: training height)");
  app.add_flag("--depth", depth, "also write depth maps");
  app.add_flag("--opacity", opacity, "also write opacity maps");
  app.add_option("--device", device, "cpu | cuda | auto");
  app.add_option("--style", style, "the style to render a stylized run under (0-based; default 0)")
      ->check(NonNegative());
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  NE_CHECK(!views.empty() || orbit > 0, "nothing to render: give --views and/or --orbit N");
  auto model = LoadRenderableRun(run, device);
  if (style >= 0) {
    const auto names = model->StyleNames();
    NE_CHECK(!names.empty(), "--style: ", run, " is a ", ReadRunJson(run).method,
             " run without styles (stylized runs are made by `nerfedit stylize train`)");
    NE_CHECK(style < static_cast<int64_t>(names.size()), "--style ", style, " is out of range: ", run, " has ",
             names.size(), " styles (0..", names.size() - 1, ")");
    model->SelectStyle(style);
    std::printf("style %lld: %s\n", static_cast<long long>(style), names[style].c_str());
  }
  const auto cameras = model->TrainingCameras();
  std::vector<std::pair<std::string, Camera>> jobs;
  if (!views.empty()) {
    std::vector<int64_t> indices;
    if (views == "all") {
      for (int64_t i = 0; i < static_cast<int64_t>(cameras.size()); ++i) indices.push_back(i);
    } else {
      indices = ParseIndexList(views, "--views");
    }
    for (int64_t i : indices) {
      NE_CHECK(i >= 0 && i < static_cast<int64_t>(cameras.size()), "--views: index ", i, " is out of range (the run has ",
               cameras.size(), " training views)");
      jobs.emplace_back("view_" + std::to_string(i), cameras[i]);
    }
  }
  if (orbit > 0) {
    const int64_t w = width > 0 ? width : cameras.at(0).width, h = height > 0 ? height : cameras.at(0).height;
    auto path = OrbitCameras(cameras, model->Aabb(), orbit, w, h, arc);
    for (int i = 0; i < orbit; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "orbit_%03d", i);
      jobs.emplace_back(name, path[i]);
    }
  }
  fs::create_directories(out);
  ProgressBar bar("render", static_cast<int64_t>(jobs.size()));
  const double start = NowSeconds();
  for (size_t i = 0; i < jobs.size(); ++i) {
    SaveView(model->RenderColour(jobs[i].second), out + "/" + jobs[i].first, depth, opacity, model->Aabb());
    bar.Update(static_cast<int64_t>(i + 1));
  }
  bar.Finish();
  std::printf("rendered %zu frames to %s (%.2f s per frame)\n", jobs.size(), out.c_str(),
              (NowSeconds() - start) / std::max<size_t>(jobs.size(), 1));
  return 0;
}

int RunEval(int argc, char** argv) {
  CLI::App app{"Evaluate a run on its held-out views (or another dataset): PSNR, SSIM, depth MAE when exact depth "
               "is known. Prints JSON."};
  app.name("nerfedit eval");
  std::string run, data, out, images, device = "auto";
  int downscale = 0;
  app.add_option("run", run, "run folder")->required();
  app.add_option("--data", data, "dataset to evaluate on (default: the run's own held-out views)");
  app.add_option("--downscale", downscale,
                 "downscale the evaluation images by this factor (default: the run's own; with --data, 1)")
      ->check(Positive());
  app.add_option("--out", out, "also write the JSON here");
  app.add_option("--images", images, "write renders, ground truth and depth here");
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  const RunHeader header = ReadRunJson(run);
  // Radiance-field runs store where their data is and how it was read; evaluation reads it the same way.
  const nlohmann::json& config = header.config;
  NE_CHECK(config.contains("data"), run, " is a ", header.method,
           " run without a scene dataset to evaluate on (its own benchmark measures it)");
  // Category runs (lolnerf) render RGB photos composited on their own backgrounds: no background key.
  const std::vector<float> background =
      config.contains("background") ? config["background"].get<std::vector<float>>() : std::vector<float>{0, 0, 0};
  const std::string data_path = data.empty() ? config["data"].get<std::string>() : data;
  // The run's downscale applies to its own data; another dataset is read at its size unless --downscale says.
  if (downscale == 0) downscale = data.empty() ? config.value("downscale", 1) : 1;
  auto model = LoadRenderableRun(run, device);
  Dataset all = LoadTransformsDataset(
      data_path, DatasetOptions().downscale(downscale).background(background));
  NE_CHECK(all.width() > 0 && all.height() > 0, data_path, ": no images");
  Dataset train, test;
  const int test_every = config.value("test_every", 0);
  if (data.empty() && test_every > 0) {
    SplitEveryNth(all, test_every, &train, &test);
  } else {
    test = all;
  }
  NE_CHECK(test.size() > 0, "no views to evaluate");
  EvalOptions options;
  options.image_dir = images;
  EvalResult result = EvaluateViews(*model, test, options);
  const std::string text = result.ToJson().dump(1);
  if (!out.empty()) WriteTextAtomically(out, text);
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace nerfedit
