#include "methods/stylize/stylize_run.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "engine/run_folder.h"
#include "fields/module_state.h"
#include "methods/nerf/nerf_run.h"
#include "methods/stylize/stylize_method.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

StylizedScene::StylizedScene(std::shared_ptr<NerfModel> model, std::shared_ptr<StyledField> field,
                             at::Tensor render_latents, std::vector<std::string> names)
    : model_(std::move(model)),
      field_(std::move(field)),
      render_latents_(std::move(render_latents)),
      names_(std::move(names)) {
  NE_CHECK(
      render_latents_.dim() == 2 && render_latents_.size(0) == static_cast<int64_t>(names_.size()) && !names_.empty(),
      "stylized scene: ", names_.size(), " style names for latents ", render_latents_.sizes());
  SelectStyle(0);
}

void StylizedScene::SelectStyle(int64_t style) {
  NE_CHECK(style >= 0 && style < static_cast<int64_t>(names_.size()), "style ", style, " is out of range: the run has ",
           names_.size(), " styles (0..", names_.size() - 1, ")");
  field_->set_latent(render_latents_[style]);
}

RenderedView StylizedScene::PaintSky(const Camera& camera, RenderedView view) {
  torch::NoGradGuard no_grad;
  // The model composited onto its fixed background colour; swap it for the sky (pixel-centre rays: with
  // supersampling the opacity is the passes' mean, which this keeps).
  const int64_t h = camera.height, w = camera.width;
  const at::Tensor directions = GenerateRays(camera).directions.to(model_->device());
  const at::Tensor sky = field_->SkyColour(directions).reshape({h, w, 3}).cpu();
  const at::Tensor background = torch::tensor(model_->config().background).reshape({1, 1, 3});
  const at::Tensor empty = (1 - view.opacity).unsqueeze(2);
  view.rgb = (view.rgb + empty * (sky - background)).clamp(0, 1);
  return view;
}

std::shared_ptr<StylizedScene> LoadStylizedRun(const std::string& run_dir, const std::string& device) {
  const RunHeader header = ReadRunJson(run_dir);
  NE_CHECK(header.method == "stylize", run_dir, " was made by method \"", header.method, "\", not \"stylize\"");
  const std::string path = run_dir + "/run.json";
  const StylizeConfig config = StylizeConfig::FromJson(header.config, path + " config");
  NE_CHECK(
      header.json.contains("nerf_config") && header.json.contains("num_views") && header.json.contains("style_names"),
      path, ": a stylize run needs \"nerf_config\", \"num_views\" and \"style_names\"");
  const NerfConfig nerf_config = NerfConfig::FromJson(header.json["nerf_config"], path + " nerf_config");
  const NerfRunInfo info = ParseNerfRunInfo(header, nerf_config);
  std::vector<std::string> names;
  int64_t num_views = 0;
  try {
    names = header.json["style_names"].get<std::vector<std::string>>();
    num_views = header.json["num_views"].get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": malformed style_names or num_views: ", e.what());
  }
  auto model = std::make_shared<NerfModel>(nerf_config, info.aabb, info.cameras, ParseDevice(device));
  StyleModule style(StyleOptionsFor(config, info.aabb));
  LatentTable latents(static_cast<int64_t>(names.size()), num_views, config.latent_dim);
  LoadModelRecord(run_dir + "/checkpoint.pt", "stylize", "stylized field", [&](torch::serialize::InputArchive& r) {
    torch::serialize::InputArchive nerf;
    r.read("nerf", nerf);
    model->LoadState(nerf);
    LoadModuleState(*style, r, "style", run_dir);
    LoadModuleState(*latents, r, "latents", run_dir);
  });
  style->to(model->device());
  style->eval();
  model->field()->eval();
  std::vector<at::Tensor> render_latents;
  for (int64_t s = 0; s < latents->num_styles(); ++s) render_latents.push_back(latents->RenderLatent(s));
  auto field = std::make_shared<StyledField>(model->field(), style, torch::zeros({config.latent_dim}));
  model->set_field(field);
  return std::make_shared<StylizedScene>(model, field, torch::stack(render_latents).to(model->device()), names);
}

}  // namespace nerfedit
