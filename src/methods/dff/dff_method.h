// The `dff` method (Distilled Feature Fields, Kobayashi et al. 2022): the nerf method on a feature field with the
// feature-distillation loss L = L_p + lambda * L_f, L_f = mean_r ||F(r) - f_teacher(I)(r)||^2, where the teacher's
// patch features are computed once per training image, cached in RUN/teacher_features.npy and bilinearly sampled
// at each ray's pixel.
#pragma once
#include <memory>
#include <string>

#include "methods/dff/dff_config.h"
#include "methods/dff/teacher.h"
#include "methods/nerf/nerf_method.h"

namespace nerfedit {

class DffMethod : public NerfMethod {
 public:
  // Resolves the teacher (an empty config.teacher becomes DefaultTeacherDir()), sets the field's feature_dim to the
  // teacher's, loads the data and computes (or reads from run_dir's cache) the teacher features of the training views.
  // parallel: this process's share of a data-parallel run (NerfMethod's).
  DffMethod(DffConfig config, const std::string& run_dir, bool quiet, DataParallel parallel = {});

  std::string Name() const override { return "dff"; }
  nlohmann::json ConfigJson() const override { return config_.ToJson(); }
  const DffConfig& dff_config() const { return config_; }

 protected:
  RenderOutputs RenderTrainingBatch(const PixelBatch& batch) override;
  at::Tensor ExtraLoss(const PixelBatch& batch, const RenderOutputs& out) override;

 private:
  struct Resolved {};
  DffMethod(Resolved, DffConfig resolved, const std::string& run_dir, bool quiet, DataParallel parallel);

  DffConfig config_;
  at::Tensor teacher_features_;  // [N,h,w,F] f32 on the model's device
};

// The config with the teacher resolved and field_config.feature_dim set to the teacher's (checked when given).
DffConfig ResolveDffConfig(DffConfig config);

// The training render of a feature field: colour from the radiance part over every ray; features, composited with
// the same weights (DFF Eq. 2), for the first ceil(fraction * R) rays only (a random subset: training rays are drawn
// at random), on detached densities when stop_grad is set so the feature loss cannot move the geometry.
// jitter: random sample offsets along the rays (training); off for comparisons with a plain render. sample_offsets:
// the jitter's draws made with the batch (PixelBatch::sample_offsets), undefined = drawn here.
RenderOutputs RenderFeatureTrainingRays(NerfModel& model, const RayBatch& rays, const at::Tensor& background,
                                        double fraction, bool stop_grad, bool jitter = true,
                                        const at::Tensor& sample_offsets = {});

// The teacher a dff run was trained with (for queries); throws naming the run when it is not a dff run.
Teacher LoadRunTeacher(const std::string& run_dir);
// A run made by the `dff` method, as a scene (its edits.json applied).
std::shared_ptr<NerfModel> LoadDffRun(const std::string& run_dir, const std::string& device,
                                      const std::function<FieldPtr(const std::string&)>& load_other);

}  // namespace nerfedit
