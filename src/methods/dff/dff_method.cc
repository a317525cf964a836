#include "methods/dff/dff_method.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "fields/feature_field.h"
#include "models2d/small_clip.h"
#include "methods/nerf/nerf_run.h"
#include "render/compositing.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

TeacherOptions TeacherOptionsOf(const DffConfig& config) {
  TeacherOptions o;
  o.dir = config.teacher.empty() ? DefaultTeacherDir() : config.teacher;
  o.mode = config.teacher_mode;
  if (o.mode == "auto") {
    // Measured on the default scene (5-way pixel accuracy): the small CLIP's MaskCLIP patch embeddings 0.14-0.17
    // (chance 0.2), its crop embeddings 0.74-0.78. Real CLIPs localise through the value path (MaskCLIP).
    o.mode = fs::exists(fs::path(o.dir) / "small_clip_training.json") ? "crops" : "dense";
  }
  o.crop = config.teacher_crop;
  o.crop_scales = config.teacher_crop_scales;
  return o;
}

// The samples of rays [0, rays): a prefix of the packed layout.
RaySamples FirstRays(const RaySamples& samples, int64_t rays) {
  const int64_t m = samples.offsets[rays].item<int64_t>();
  return {samples.offsets.slice(0, 0, rays + 1), samples.ray_indices.slice(0, 0, m), samples.t_starts.slice(0, 0, m),
          samples.t_ends.slice(0, 0, m)};
}

}  // namespace

DffConfig ResolveDffConfig(DffConfig config) {
  if (config.teacher.empty()) config.teacher = DefaultTeacherDir();
  NE_CHECK(fs::is_directory(config.teacher), "teacher ", config.teacher,
           " does not exist: train nerfedit's small CLIP with `nerfedit clip train --out ", config.teacher,
           "` (about 10 minutes) or pass --teacher with a CLIP or DINO ViT folder");
  NE_CHECK(!fs::exists(fs::path(config.teacher) / "small_clip_training.json") || IsCurrentSmallClip(config.teacher),
           "teacher ", config.teacher, " is a small CLIP trained by an older nerfedit (another caption vocabulary): "
           "retrain it with `nerfedit clip train --out ", config.teacher, "`");
  const int64_t dim = Teacher(TeacherOptionsOf(config)).feature_dim();
  nlohmann::json& field_config = config.nerf.field_config;
  if (field_config.contains("feature_dim")) {
    NE_CHECK(field_config["feature_dim"] == dim, "field_config.feature_dim is ", field_config["feature_dim"].dump(),
             " but the teacher's features have ", dim, " dimensions");
  }
  field_config["feature_dim"] = dim;
  config.Check();
  return config;
}

DffMethod::DffMethod(DffConfig config, const std::string& run_dir, bool quiet, DataParallel parallel)
    : DffMethod(Resolved{}, ResolveDffConfig(std::move(config)), run_dir, quiet, parallel) {}

DffMethod::DffMethod(Resolved, DffConfig resolved, const std::string& run_dir, bool quiet, DataParallel parallel)
    : NerfMethod(resolved.nerf, parallel), config_(std::move(resolved)) {
  if (config_.teacher_crop == 0) config_.teacher_crop = std::max<int64_t>(8, (train_set().width() + 2) / 4);
  Teacher teacher(TeacherOptionsOf(config_));
  const double t0 = NowSeconds();
  at::Tensor features =
      ComputeTeacherFeatures(teacher, train_set().images, run_dir + "/teacher_features.npy", !quiet);
  if (!quiet) {
    std::fprintf(stderr, "teacher %s: %lld feature maps of %lldx%lld in %.1f s\n", teacher.Describe().c_str(),
                 static_cast<long long>(features.size(0)), static_cast<long long>(features.size(1)),
                 static_cast<long long>(features.size(2)), NowSeconds() - t0);
  }
  teacher_features_ = features.to(model().device());
}

RenderOutputs RenderFeatureTrainingRays(NerfModel& model, const RayBatch& rays_in, const at::Tensor& background,
                                        double fraction, bool stop_grad, bool jitter,
                                        const at::Tensor& sample_offsets) {
  auto* field = dynamic_cast<FeatureFieldImpl*>(model.field().get());
  NE_CHECK(field != nullptr, "dff: the model's field is a \"", model.field()->Kind(), "\", not a feature_field");
  const RayBatch rays = rays_in.To(model.device());
  const RaySamples samples = model.SampleRays(rays, jitter, sample_offsets);
  auto positions = samples.Positions(rays.origins, rays.directions);
  auto directions = rays.directions.index_select(0, samples.ray_indices);
  FieldOutputs out = field->radiance->Query(positions, directions);
  RenderOutputs r = model.CompositeColour(samples, out, background);
  const auto feature_rays = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(samples.num_rays() * fraction)));
  const RaySamples feature_samples = FirstRays(samples, feature_rays);
  const at::Tensor features = field->QueryFeatures(positions.slice(0, 0, feature_samples.num_samples()));
  at::Tensor density = out.density.slice(0, 0, feature_samples.num_samples());
  if (stop_grad) density = density.detach();
  r.features = CompositeAlongRays(density, features, feature_samples).values;
  return r;
}

RenderOutputs DffMethod::RenderTrainingBatch(const PixelBatch& batch) {
  return RenderFeatureTrainingRays(model(), batch.rays, batch.background, config_.feature_ray_fraction,
                                   config_.feature_stop_grad, /*jitter=*/true, batch.sample_offsets);
}

at::Tensor DffMethod::ExtraLoss(const PixelBatch& batch, const RenderOutputs& out) {
  // Features were rendered for the batch's first rays only (feature_ray_fraction).
  const int64_t rays = out.features.size(0);
  const at::Tensor target = SampleFeatureMaps(teacher_features_, batch.camera.slice(0, 0, rays),
                                              batch.xy.slice(0, 0, rays), train_set().width(), train_set().height());
  return config_.feature_weight * (out.features - target).pow(2).sum(1).mean();
}

Teacher LoadRunTeacher(const std::string& run_dir) {
  const RunHeader header = ReadRunJson(run_dir);
  NE_CHECK(header.method == "dff", run_dir, " is a ", header.method,
           " run without a feature field: train it with `nerfedit dff train` to select by text or click");
  return Teacher(TeacherOptionsOf(DffConfig::FromJson(header.config, run_dir + "/run.json config")));
}

std::shared_ptr<NerfModel> LoadDffRun(const std::string& run_dir, const std::string& device,
                                      const std::function<FieldPtr(const std::string&)>& load_other) {
  const RunHeader header = ReadRunJson(run_dir);
  NE_CHECK(header.method == "dff", run_dir, " was made by method \"", header.method, "\", not \"dff\"");
  const DffConfig config = DffConfig::FromJson(header.config, run_dir + "/run.json config");
  return LoadNerfModel(run_dir, ParseNerfRunInfo(header, config.nerf), device, load_other);
}

}  // namespace nerfedit
