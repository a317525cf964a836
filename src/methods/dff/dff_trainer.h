// The `dff` pipeline (Distilled Feature Fields, Kobayashi et al. 2022): the nerf trainer on a feature field with the
// feature-distillation loss L = L_p + lambda * L_f, L_f = mean_r ||F(r) - f_teacher(I)(r)||^2, where the teacher's
// patch features are computed once per training image, cached in RUN/teacher_features.npy and bilinearly sampled
// at each ray's pixel.
#pragma once
#include <memory>
#include <string>

#include "methods/dff/teacher.h"
#include "methods/nerf/nerf_trainer.h"

namespace nerfedit {

// The config of a dff run: `config` with field "feature_field" whose feature_dim is the teacher's, and the teacher
// folder resolved (an empty config.teacher becomes DefaultTeacherDir()).
NerfConfig MakeDffConfig(NerfConfig config);

// A new dff run (or, with resume, the run in run_dir continued from its checkpoint with config overrides).
std::unique_ptr<NerfTrainer> MakeDffTrainer(const NerfConfig& config, const std::string& run_dir,
                                            TrainerOptions options = {});
std::unique_ptr<NerfTrainer> ResumeDffTrainer(const std::string& run_dir, const nlohmann::json& overrides,
                                              TrainerOptions options = {});

// The teacher a dff run was trained with (for queries); throws naming the run when it has none.
Teacher LoadRunTeacher(const NerfConfig& config, const std::string& run_dir);

}  // namespace nerfedit
