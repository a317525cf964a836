// A tiny analytic scene for testing the viewer without a trained model: three coloured spheres standing on a
// checkered disc (z = 0, Z-up), ray-cast exactly on the CPU, with a ring of training cameras around it.
#pragma once
#include <vector>

#include "render/renderable.h"

namespace nerfedit {

class SphereScene : public Renderable {
 public:
  // with_features: also render a [H,W,5] one-hot label per pixel (background, ground, three spheres),
  // standing in for a distilled feature field.
  explicit SphereScene(bool with_features = false, int num_cameras = 8);

  RenderedView Render(const Camera& camera) override;
  std::vector<Camera> TrainingCameras() const override { return cameras_; }
  at::Tensor Aabb() const override;  // [[-1.5,-1.5,0],[1.5,1.5,1.2]]

 private:
  bool with_features_;
  std::vector<Camera> cameras_;
};

}  // namespace nerfedit
