// The web viewer's request bodies (POST /api/render, /api/select, /api/select_render, /api/edit, /api/save): the
// fuzzer's bytes are the body, parsed exactly as the server parses it (view_request.h), against a scene with two
// training cameras. The server answers an ApiError with its status and a nerfedit::Error with 400; anything else
// escaping (it would be a 500) is a finding. Properties
// checked beside that: an accepted view is within the server's limits, and an accepted save path lies inside the
// run's parent folder (the path-traversal guard).
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "app/viewer/view_request.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace nerfedit;
namespace fs = std::filesystem;

constexpr int64_t kMaxPixels = 1 << 16;  // small, so "over max_pixels" is reachable

template <typename F>
void ExpectAnsweredOrRefused(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    if (e.status() < 400 || e.status() > 499) std::abort();  // a client's body never causes a server error
  } catch (const Error&) {
  }
}

void CheckView(const ViewRequest& view) {
  const Camera& c = view.camera;
  if (c.width < 1 || c.height < 1 || c.width * c.height > kMaxPixels) std::abort();
  if (!std::isfinite(c.fx) || !std::isfinite(c.fy) || !std::isfinite(c.cx) || !std::isfinite(c.cy)) std::abort();
  if (view.quality < 1 || view.quality > 100) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Camera> cameras = {Camera::LookAt({0, -3, 1}, {0, 0, 0}, {0, 0, 1}, 64, 48, 0.8),
                                              Camera::LookAt({3, 0, 1}, {0, 0, 0}, {0, 0, 1}, 32, 32, 0.6)};
  // A run folder inside a parent folder that also holds an edited copy already (a non-empty target).
  static const std::string run_dir = [] {
    const fs::path parent = fs::path(fuzz::ScratchDir()) / "runs";
    fs::create_directories(parent / "run");
    fs::create_directories(parent / "taken");
    fuzz::WriteInput("runs/taken/run.json", reinterpret_cast<const uint8_t*>("{}"), 2);
    return (parent / "run").string();
  }();
  const std::string text(reinterpret_cast<const char*>(data), size);
  ExpectAnsweredOrRefused([&] {
    const nlohmann::json body = ParseApiBody(text);
    ExpectAnsweredOrRefused([&] { CheckView(ParseViewRequest(body, cameras, kMaxPixels)); });
    ExpectAnsweredOrRefused([&] {
      const SelectRequest select = ParseSelectRequest(body, cameras, kMaxPixels);
      CheckView(select.view);
      if (select.click && !(select.click->first >= 0 && select.click->first < select.view.camera.width)) std::abort();
    });
    ExpectAnsweredOrRefused([&] {
      const EditRequest edit = ParseEditRequest(body);
      for (float v : edit.color) {
        if (!(v >= 0 && v <= 1)) std::abort();
      }
    });
    ExpectAnsweredOrRefused([&] {
      const fs::path target = ParseSavePath(body, run_dir);
      const std::string parent = fs::weakly_canonical(fs::path(run_dir).parent_path()).string() + "/";
      if (target.string().compare(0, parent.size(), parent) != 0) std::abort();
    });
  });
  return 0;
}
