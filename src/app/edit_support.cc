#include "app/edit_support.h"

#include <torch/torch.h>

#include <filesystem>

#include "edit/edit_list.h"
#include "methods/method_registry.h"
#include "util/error.h"

namespace nerfedit {

namespace fs = std::filesystem;

std::vector<float> TranslationMatrix(const std::array<float, 3>& t) {
  return {1, 0, 0, t[0], 0, 1, 0, t[1], 0, 0, 1, t[2], 0, 0, 0, 1};
}

nlohmann::json MakeRecolorEdit(NerfModel& model, const Selection& selection, const std::array<float, 3>& target,
                               int64_t max_views) {
  const at::Tensor source = MeasureSelection(model, selection, max_views).mean_rgb;
  return {{"op", "recolor"},
          {"selection", selection.ToJson()},
          {"mode", "color"},
          {"target", std::vector<float>(target.begin(), target.end())},
          {"source", std::vector<float>{source[0].item<float>(), source[1].item<float>(), source[2].item<float>()}}};
}

at::Tensor SelectionOverlay(const SelectionView& view) {
  auto colour = torch::tensor({1.0f, 0.15f, 0.75f});
  auto m = view.mask.to(torch::kCPU).unsqueeze(-1).to(torch::kFloat) * 0.55f;
  return view.rgb.to(torch::kCPU, torch::kFloat) * (1 - m) + colour * m;
}

void WriteEditedRun(const std::string& from, const std::string& to, const std::vector<nlohmann::json>& new_edits,
                    const std::string& device) {
  NE_CHECK(!fs::exists(to) || (fs::is_directory(to) && fs::is_empty(to)), "output run ", to,
           " already exists and is not empty");
  NE_CHECK(fs::exists(fs::path(from) / "checkpoint.pt"), "run ", from, " has no checkpoint.pt");
  const std::string tmp = to + ".tmp-edit";
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    for (const char* name : {"run.json", "checkpoint.pt", "edits.json"}) {
      if (fs::exists(fs::path(from) / name)) fs::copy_file(fs::path(from) / name, fs::path(tmp) / name);
    }
    const std::string edits_file = tmp + "/edits.json";
    EditList edits = fs::exists(edits_file) ? EditList::Load(edits_file) : EditList();
    for (const auto& edit : new_edits) edits.Push(edit);
    edits.Save(edits_file);
    LoadSceneRun(tmp, device);  // the edited run must load: fail now, not in the viewer or the renderer
    if (fs::exists(to)) fs::remove(to);
    fs::rename(tmp, to);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

}  // namespace nerfedit
