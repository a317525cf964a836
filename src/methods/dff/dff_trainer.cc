#include "methods/dff/dff_trainer.h"

#include <torch/torch.h>

#include <filesystem>

#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

TeacherOptions TeacherOptionsOf(const NerfConfig& config) {
  TeacherOptions o;
  o.dir = config.teacher.empty() ? DefaultTeacherDir() : config.teacher;
  o.mode = config.teacher_mode;
  if (o.mode == "auto") {
    // Measured on the default scene (5-way pixel accuracy): the small CLIP's MaskCLIP patch embeddings 0.14-0.17
    // (chance 0.2), its crop embeddings 0.74-0.78. Real CLIPs localise through the value path (MaskCLIP).
    o.mode = fs::exists(fs::path(o.dir) / "small_clip_training.json") ? "crops" : "dense";
  }
  o.crop = config.teacher_crop;
  return o;
}

// Wires the feature loss into a trainer: teacher features of the training images (cached in the run folder).
void AttachFeatureLoss(NerfTrainer& trainer, bool quiet) {
  const NerfConfig& config = trainer.config();
  Teacher teacher(TeacherOptionsOf(config));
  const Dataset& data = trainer.train_set();
  const double t0 = NowSeconds();
  at::Tensor features = ComputeTeacherFeatures(teacher, data.images, trainer.run_dir() + "/teacher_features.npy", !quiet);
  if (!quiet) {
    std::fprintf(stderr, "teacher %s: %lld feature maps of %lldx%lld in %.1f s\n", teacher.Describe().c_str(),
                 static_cast<long long>(features.size(0)), static_cast<long long>(features.size(1)),
                 static_cast<long long>(features.size(2)), NowSeconds() - t0);
  }
  features = features.to(trainer.model().device());
  const int64_t width = data.width(), height = data.height();
  const double weight = config.feature_weight;
  trainer.SetAuxiliaryLoss([features, width, height, weight](const at::Tensor& camera, const at::Tensor& xy,
                                                             const RenderOutputs& out) {
    NE_CHECK(out.features.defined(), "dff: the field rendered no features (is the field a feature_field?)");
    // With feature_ray_fraction < 1 the model rendered features for the batch's first rays only.
    const int64_t rays = out.features.size(0);
    const at::Tensor target = SampleFeatureMaps(features, camera.slice(0, 0, rays), xy.slice(0, 0, rays), width, height);
    return weight * (out.features - target).pow(2).sum(1).mean();
  });
}

}  // namespace

NerfConfig MakeDffConfig(NerfConfig config) {
  if (config.teacher.empty()) config.teacher = DefaultTeacherDir();
  NE_CHECK(fs::is_directory(config.teacher), "teacher ", config.teacher,
           " does not exist: train nerfedit's small CLIP with `nerfedit clip train --out ", config.teacher,
           "` (about 10 minutes) or pass --teacher with a CLIP or DINO ViT folder");
  const int64_t dim = Teacher(TeacherOptionsOf(config)).feature_dim();
  config.field = "feature_field";
  if (config.field_config.contains("feature_dim")) {
    NE_CHECK(config.field_config["feature_dim"] == dim, "field_config.feature_dim is ",
             config.field_config["feature_dim"].dump(), " but the teacher's features have ", dim, " dimensions");
  }
  config.field_config["feature_dim"] = dim;
  return config;
}

std::unique_ptr<NerfTrainer> MakeDffTrainer(const NerfConfig& config, const std::string& run_dir,
                                            TrainerOptions options) {
  auto trainer = std::make_unique<NerfTrainer>(MakeDffConfig(config), run_dir, options);
  try {
    AttachFeatureLoss(*trainer, options.quiet);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(run_dir, ignored);  // no partial run folder for a teacher that failed to load
    throw;
  }
  return trainer;
}

std::unique_ptr<NerfTrainer> ResumeDffTrainer(const std::string& run_dir, const nlohmann::json& overrides,
                                              TrainerOptions options) {
  auto trainer = NerfTrainer::Resume(run_dir, overrides, options);
  NE_CHECK(trainer->config().field == "feature_field", run_dir, " is not a dff run (field \"",
           trainer->config().field, "\"): continue it with `nerfedit train --resume`");
  AttachFeatureLoss(*trainer, options.quiet);
  return trainer;
}

Teacher LoadRunTeacher(const NerfConfig& config, const std::string& run_dir) {
  NE_CHECK(config.field == "feature_field", run_dir, " has no feature field (field \"", config.field,
           "\"): train it with `nerfedit dff train` to select by text or click");
  return Teacher(TeacherOptionsOf(config));
}

}  // namespace nerfedit
