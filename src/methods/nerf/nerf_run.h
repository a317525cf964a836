// Loads a trained run as a Renderable (for the viewer and exporters, which must not depend on the method).
#pragma once
#include <memory>
#include <string>

#include "render/renderable.h"

namespace nerfedit {

std::shared_ptr<Renderable> LoadRenderableRun(const std::string& run_dir, const std::string& device);

}  // namespace nerfedit
