// What the viewer, exporters and CLI need from a trained scene: render any camera. Methods implement it;
// edited scenes are fields wrapped by edits, so they render through the same interface.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "render/camera.h"

namespace nerfedit {

struct RenderedView {
  at::Tensor rgb;       // [H,W,3] f32 in [0,1], composited on the scene's background colour
  at::Tensor depth;     // [H,W] f32 expected ray distance (sum of weights * t), 0 where nothing was hit
  at::Tensor opacity;   // [H,W] f32 accumulated alpha in [0,1]
  at::Tensor features;  // [H,W,F] f32 rendered semantic features; undefined unless the scene has them
};

class Renderable {
 public:
  virtual ~Renderable() = default;
  virtual RenderedView Render(const Camera& camera) = 0;
  // The same view without features (the viewer's colour, depth and opacity pictures): scenes with a feature head
  // override it to skip the head, which is most of a feature field's render time.
  virtual RenderedView RenderColour(const Camera& camera) {
    RenderedView view = Render(camera);
    view.features = at::Tensor();
    return view;
  }
  virtual std::vector<Camera> TrainingCameras() const = 0;  // for camera lists and orbit paths
  virtual at::Tensor Aabb() const = 0;                       // [2,3] f32 scene bounds
  // Scenes that render under several styles (stylize runs): their names, and the one Render uses from now on
  // (0-based; out of range throws). Other scenes have none.
  virtual std::vector<std::string> StyleNames() const { return {}; }
  virtual void SelectStyle(int64_t) { throw std::invalid_argument("this scene has no styles"); }
};

}  // namespace nerfedit
