// Loading a stylized run to render it (`nerfedit render SRUN --style K`, the viewer): the frozen field from the run's
// own checkpoint with its colour replaced by the style module (StyledField), rendering under one style at a time.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "methods/nerf/nerf_model.h"
#include "methods/stylize/style_module.h"
#include "render/renderable.h"

namespace nerfedit {

class StylizedScene : public Renderable {
 public:
  // render_latents [S,L]: the latent each style renders with; names: the styles as given.
  StylizedScene(std::shared_ptr<NerfModel> model, std::shared_ptr<StyledField> field, at::Tensor render_latents,
                std::vector<std::string> names);
  // The frozen field's render with the style module's colour, its background replaced by the style module's sky.
  RenderedView Render(const Camera& camera) override { return PaintSky(camera, model_->Render(camera)); }
  RenderedView RenderColour(const Camera& camera) override { return PaintSky(camera, model_->RenderColour(camera)); }
  std::vector<Camera> TrainingCameras() const override { return model_->TrainingCameras(); }
  at::Tensor Aabb() const override { return model_->Aabb(); }
  std::vector<std::string> StyleNames() const override { return names_; }
  void SelectStyle(int64_t style) override;

  NerfModel& model() { return *model_; }
  const std::shared_ptr<StyledField>& field() const { return field_; }

 private:
  RenderedView PaintSky(const Camera& camera, RenderedView view);

  std::shared_ptr<NerfModel> model_;
  std::shared_ptr<StyledField> field_;
  at::Tensor render_latents_;  // [S,L]
  std::vector<std::string> names_;
};

// A run made by the `stylize` method (clear errors for other runs); style 0 selected.
std::shared_ptr<StylizedScene> LoadStylizedRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
