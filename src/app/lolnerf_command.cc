// `nerfedit lolnerf train|fit`. train is the generic registry path (StartTraining / ResumeTraining, as
// `nerfedit train` for the other methods) with LOLNeRF's own flags; fit places a new photo's camera from its
// landmarks and optimises its latent with the field frozen, writing a run folder `nerfedit render` renders.
#include <cstring>
#include <fstream>
#include <memory>

#include "app/cli_util.h"
#include "app/commands.h"
#include "app/train_command.h"
#include "data/category_scene.h"
#include "data/image_io.h"
#include "methods/lolnerf/lolnerf_run.h"
#include "methods/method_registry.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {

namespace {

// The generic training command (app/train_command.h: --data --out --resume --config --steps --time-budget
// --batch-rays --lr --eval-every --device --quiet, data-parallel --world-size --rank --master) with LOLNeRF's flags.
int LolnerfTrainCommand(int argc, char** argv) {
  struct Values {
    std::string poses, field;
    double hard = -1, mask = -1;
    bool no_fgbg = false;
    int64_t seed = -1;
  };
  auto v = std::make_shared<Values>();
  MethodFlags flags{
      [v](CLI::App& app) {
        app.add_option("--poses", v->poses, "dataset (the frames' cameras) | landmarks (estimated from the 2D landmarks)")
            ->check(CLI::IsMember({"dataset", "landmarks"}));
        app.add_option("--field", v->field, "hash_grid (CPU default) | mlp (the paper's 8x256 MLP)")
            ->check(CLI::IsMember({"hash_grid", "mlp"}));
        app.add_option("--hard-surface-weight", v->hard, "weight of the hard-surface loss (0: off)")
            ->check(NonNegative());
        app.add_option("--mask-weight", v->mask, "weight of the mask loss (0: off)")->check(NonNegative());
        app.add_flag("--no-fgbg", v->no_fgbg, "one field for everything: no background model, no mask loss (ablation)");
        app.add_option("--seed", v->seed, "random seed")->check(NonNegative());
      },
      [v](nlohmann::json* j) {
        if (!v->poses.empty()) (*j)["poses"] = v->poses;
        if (!v->field.empty()) (*j)["field"] = v->field;
        if (v->hard >= 0) (*j)["hard_surface_weight"] = v->hard;
        if (v->mask >= 0) (*j)["mask_weight"] = v->mask;
        if (v->no_fgbg) (*j)["fg_bg"] = false;
        if (v->seed >= 0) (*j)["seed"] = v->seed;
      },
      /*sampling_flags=*/false};
  return TrainCommand(argc, argv, "lolnerf", "nerfedit lolnerf train",
                      "Train LOLNeRF on a category dataset (one view per object; `nerfedit category make`): a "
                      "conditional field with one GLO latent per image, cameras from the dataset or from 2D landmarks, "
                      "hard-surface and mask losses, foreground over a latent-conditioned background; fit a new photo "
                      "afterwards with `nerfedit lolnerf fit RUN --image IMG --landmarks ... --out FIT`. --resume "
                      "continues a run.",
                      flags);
}

// Landmarks from a JSON file: [[x,y] x K], {"landmarks": [[x,y] x K]} or a flat list of 2K numbers.
at::Tensor ReadLandmarksFile(const std::string& path) {
  nlohmann::json j = ReadJsonFile(path);
  if (j.is_object()) {
    NE_CHECK(j.contains("landmarks"), path, ": expected a \"landmarks\" list");
    j = j["landmarks"];
  }
  NE_CHECK(j.is_array(), path, ": expected a list of [x, y] pairs");
  std::vector<float> flat;
  try {
    for (const auto& item : j) {
      if (item.is_array()) {
        NE_CHECK(item.size() == 2, path, ": a landmark must be an [x, y] pair, got ", item.dump());
        flat.push_back(item[0].get<float>());
        flat.push_back(item[1].get<float>());
      } else {
        flat.push_back(item.is_null() ? NAN : item.get<float>());
      }
    }
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": landmarks must be numbers: ", e.what());
  }
  NE_CHECK(flat.size() % 2 == 0, path, ": an odd number of landmark coordinates (", flat.size(), ")");
  return torch::tensor(flat).view({-1, 2});
}

int LolnerfFitCommand(int argc, char** argv) {
  CLI::App app{"Fit a new photo to a trained LOLNeRF run: its camera from five 2D landmarks through the run's "
               "canonical landmarks, then its latent optimised with the field frozen (from the mean code). Writes a "
               "run folder: `nerfedit render FIT --views 0 --orbit 36` renders it from any camera."};
  app.name("nerfedit lolnerf fit");
  std::string run, image_path, landmarks_text, landmarks_file, mask_path, frame, out, device = "auto";
  int64_t steps = LolnerfFitOptions().steps(), rays = LolnerfFitOptions().rays();
  double lr = LolnerfFitOptions().lr();
  app.add_option("run", run, "trained lolnerf run folder")->required();
  app.add_option("--image", image_path, "the photo (PNG/JPEG; alpha is composited on black)");
  app.add_option("--frame", frame, "DATASET:K instead of --image/--landmarks/--mask: frame K of a category dataset "
                 "(`nerfedit category make`), its image, landmarks and mask");
  app.add_option("--landmarks", landmarks_text,
                 "x1,y1,...,x5,y5 pixel coordinates (heads: left eye, right eye, nose tip, left and right mouth "
                 "corner; chairs: seat corners FL, FR, BL, BR, back top)");
  app.add_option("--landmarks-file", landmarks_file, "JSON: [[x,y] x 5] or {\"landmarks\": [[x,y] x 5]}");
  app.add_option("--mask", mask_path, "foreground mask image (white = object): adds the mask loss");
  app.add_option("--out", out, "run folder to write (must not exist)")->required();
  app.add_option("--steps", steps, "optimisation steps on the latent")->check(NonNegative());
  app.add_option("--rays", rays, "random pixels per step")->check(Positive());
  app.add_option("--lr", lr, "the latent's learning rate")->check(Positive());
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  at::Tensor landmarks, image, mask;
  std::string what = "--landmarks";
  if (!frame.empty()) {
    NE_CHECK(image_path.empty() && landmarks_text.empty() && landmarks_file.empty() && mask_path.empty(),
             "--frame brings the image, landmarks and mask: drop --image/--landmarks/--landmarks-file/--mask");
    const auto colon = frame.rfind(':');
    NE_CHECK(colon != std::string::npos && colon > 0, "--frame must be DATASET:K, got \"", frame, "\"");
    const std::vector<int64_t> index = ParseIndexList(frame.substr(colon + 1), "--frame");
    NE_CHECK(index.size() == 1, "--frame must be DATASET:K with one frame index, got \"", frame, "\"");
    const CategoryDataset data = LoadCategoryDataset(frame.substr(0, colon), DatasetOptions().background({0, 0, 0}));
    const int64_t k = index[0];
    NE_CHECK(k >= 0 && k < data.data.size(), "--frame: index ", k, " is out of range (", data.data.size(), " frames)");
    NE_CHECK(data.landmarks.defined(), "--frame: ", frame.substr(0, colon), " carries no landmarks");
    image = data.data.images[k];
    landmarks = data.landmarks[k];
    if (data.masks.defined()) mask = data.masks[k];
    image_path = frame;
    what = "--frame " + frame;
  } else {
    NE_CHECK(!image_path.empty(), "give the photo: --image FILE (or --frame DATASET:K)");
    NE_CHECK(landmarks_text.empty() != landmarks_file.empty(), "give the photo's landmarks: --landmarks x1,y1,... or "
                                                               "--landmarks-file FILE (one of them)");
    if (!landmarks_text.empty()) {
      const std::vector<float> values = ParseFloatList(landmarks_text, "--landmarks");
      NE_CHECK(values.size() == 10, "--landmarks: expected 10 numbers (5 x,y pixel pairs), got ", values.size());
      landmarks = torch::tensor(values).view({5, 2});
    } else {
      landmarks = ReadLandmarksFile(landmarks_file);
      what = "--landmarks-file " + landmarks_file;
    }
    image = LoadImageFloat(image_path, {0, 0, 0});
  }
  if (!mask_path.empty()) {
    mask = LoadImageFloat(mask_path, {0, 0, 0}).select(2, 0).contiguous();
    NE_CHECK(mask.size(0) == image.size(0) && mask.size(1) == image.size(1), "--mask ", mask_path, " is ",
             mask.size(1), "x", mask.size(0), " but --image ", image_path, " is ", image.size(1), "x", image.size(0));
  }
  const LolnerfRunInfo info = ReadLolnerfRun(run);
  NE_CHECK(info.instance.is_null(), run, " is itself a fitted photo: fit against the trained run (",
           info.instance.value("fitted_from", std::string("?")), ")");
  NE_CHECK(info.landmarks.defined(), run, " has no canonical landmarks (its training data carried none)");
  NE_CHECK(landmarks.size(0) == info.landmarks.canonical.size(0), what, ": expected ",
           info.landmarks.canonical.size(0), " landmarks, got ", landmarks.size(0));
  NE_CHECK(torch::isfinite(landmarks).all().item<bool>(), what, ": a landmark coordinate is NaN or infinite");
  auto model = LoadLolnerfModel(info, device);
  const double start = NowSeconds();
  const LolnerfFit fit = FitLolnerfImage(*model, info.landmarks, IntrinsicsFor(info, image.size(1), image.size(0)),
                                         image, landmarks, mask, LolnerfFitOptions().steps(steps).rays(rays).lr(lr));
  WriteLolnerfFitRun(info, fit, {{"image", image_path}, {"mask", mask_path}}, out);
  std::printf("fitted %s in %.1f s: PSNR %.2f dB, landmark residual %.2f px\nrun: %s (render with `nerfedit render %s "
              "--views 0 --orbit 36 --out DIR`)\n",
              image_path.c_str(), NowSeconds() - start, fit.psnr, fit.landmark_residual_px, out.c_str(), out.c_str());
  return 0;
}

}  // namespace

int RunLolnerf(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0) return LolnerfTrainCommand(argc - 1, argv + 1);
  if (argc >= 2 && std::strcmp(argv[1], "fit") == 0) return LolnerfFitCommand(argc - 1, argv + 1);
  std::printf("usage: nerfedit lolnerf train --data DIR --out RUN [--poses landmarks] [options]   (--help for options)\n"
              "       nerfedit lolnerf fit RUN --image face.png --landmarks x1,y1,...,x5,y5 --out FIT\n"
              "then:  nerfedit render FIT --views 0 --orbit 36 --out frames/\n");
  return argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) ? 0 : 1;
}

}  // namespace nerfedit
