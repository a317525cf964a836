#include "methods/dff/dff_query.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "models2d/small_clip_data.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace fs = std::filesystem;

const std::vector<std::string>& GenericNegatives() {
  static const std::vector<std::string> negatives{"object", "things", "stuff", "texture"};
  return negatives;
}

namespace {

// Lower-case words of a phrase.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char ch : text + " ") {
    if (std::isalpha(static_cast<unsigned char>(ch))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  return words;
}

}  // namespace

std::vector<std::string> DefaultNegatives(const Teacher& teacher, const std::string& query) {
  if (!teacher.is_small_clip()) return GenericNegatives();
  const auto& shapes = CaptionShapes();
  const auto& colours = CaptionColours();
  int shape = -1, colour = -1;
  for (const std::string& w : Words(query)) {
    bool known = false;
    for (size_t s = 0; s < shapes.size(); ++s) {
      const auto& c = shapes[s];
      if (w == c.singular || w == c.plural || (!c.synonym.empty() && (w == c.synonym || w == c.synonym_plural))) {
        shape = static_cast<int>(s), known = true;
      }
    }
    for (size_t c = 0; c < colours.size(); ++c) {
      if (w == colours[c].name) colour = static_cast<int>(c), known = true;
    }
    // Articles, sizes and counts ("a", "small", "two") do not change what the phrase names.
    const auto& sizes = CaptionSizes();
    const auto& counts = CaptionCounts();
    known |= std::find(sizes.begin(), sizes.end(), w) != sizes.end() ||
             std::find(counts.begin(), counts.end(), w) != counts.end() || w == "the" || w == "an";
    if (!known) return GenericNegatives();
  }
  std::vector<std::string> negatives{"ground"};
  if (shape < 0 && colour < 0) return GenericNegatives();
  if (shape < 0) {
    for (size_t c = 0; c < colours.size(); ++c) {
      if (static_cast<int>(c) != colour) negatives.push_back(colours[c].name);
    }
  } else if (colour < 0) {
    for (size_t s = 0; s < shapes.size(); ++s) {
      if (static_cast<int>(s) != shape) negatives.push_back(shapes[s].singular);
    }
  } else {
    for (size_t c = 0; c < colours.size(); ++c) {
      for (size_t s = 0; s < shapes.size(); ++s) {
        if (static_cast<int>(c) != colour || static_cast<int>(s) != shape) {
          negatives.push_back(colours[c].name + " " + shapes[s].singular);
        }
      }
    }
  }
  return negatives;
}

std::vector<std::string> SceneObjectNames(const std::string& data) {
  fs::path dir = fs::is_directory(data) ? fs::path(data) : fs::path(data).parent_path();
  const fs::path file = dir / "objects.json";
  std::vector<std::string> names;
  if (!fs::exists(file)) return names;
  const nlohmann::json objects = ReadJsonFile(file.string());
  const nlohmann::json& list = objects.is_object() && objects.contains("objects") ? objects["objects"] : objects;
  NE_CHECK(list.is_array(), file.string(), ": expected a list of objects");
  for (const auto& o : list) {
    if (o.is_object() && o.contains("name") && o["name"].is_string()) names.push_back(o["name"].get<std::string>());
  }
  return names;
}

Selection TextSelection(const Teacher& teacher, const std::string& text, std::vector<std::string> negatives,
                        SelectionOptions options) {
  NE_CHECK(!text.empty(), "empty text query");
  if (negatives.empty()) {
    negatives = DefaultNegatives(teacher, text);
    options.relevancy("pairwise");
  }
  negatives.erase(std::remove(negatives.begin(), negatives.end(), text), negatives.end());
  if (negatives.empty()) negatives = GenericNegatives();
  std::vector<std::string> all{text};
  all.insert(all.end(), negatives.begin(), negatives.end());
  at::Tensor embeddings = teacher.EmbedTexts(all);
  return Selection::FromText(text, embeddings[0], embeddings.slice(0, 1), options);
}

Selection ClickSelection(NerfModel& model, const Camera& camera, double x, double y, SelectionOptions options) {
  NE_CHECK(x >= 0 && y >= 0 && x < camera.width && y < camera.height, "click (", x, ", ", y,
           ") is outside the ", camera.width, "x", camera.height, " view");
  torch::NoGradGuard no_grad;
  at::Tensor intrinsics, poses;
  StackCameras({camera}, &intrinsics, &poses);
  RayBatch rays = GenerateRays(intrinsics, poses, torch::zeros({1}, torch::kLong),
                               torch::tensor({{static_cast<float>(x), static_cast<float>(y)}}));
  RenderOutputs out = model.RenderRays(rays, torch::tensor(model.config().background), /*training=*/false);
  NE_CHECK(out.features.defined(), "this run has no feature field: train it with `nerfedit dff train`");
  NE_CHECK(out.opacity[0].item<float>() > 0.5f, "the click at (", x, ", ", y,
           ") hits empty space (opacity ", out.opacity[0].item<float>(), "): click on an object");
  // The rendered feature is a weighted sum over the ray: divide the opacity out so it is a surface feature.
  at::Tensor feature = out.features[0] / out.opacity[0];
  return Selection::FromFeature("click " + std::to_string(static_cast<int>(x)) + "," + std::to_string(static_cast<int>(y)),
                                feature.cpu(), options);
}

Selection PatchSelection(const Teacher& teacher, const at::Tensor& crop, SelectionOptions options) {
  return Selection::FromFeature("image patch", teacher.EmbedImage(crop).cpu(), options);
}

SelectionView RenderSelection(NerfModel& model, const Selection& selection, const Camera& camera) {
  RenderedView view = model.Render(camera);
  NE_CHECK(view.features.defined(), "this run has no feature field: train it with `nerfedit dff train`");
  SelectionView out;
  // Features are composited like colour; dividing by the opacity gives the surface's own feature.
  auto opacity = view.opacity.unsqueeze(-1);
  auto surface = view.features / opacity.clamp_min(1e-4);
  out.probability = SelectionMaskImage(selection, surface) * (view.opacity > 0.5).to(at::kFloat);
  out.mask = out.probability > selection.options().threshold();
  out.rgb = view.rgb;
  return out;
}

SelectionStats MeasureSelection(NerfModel& model, const Selection& selection, int64_t max_views) {
  const auto cameras = model.TrainingCameras();
  NE_CHECK(!cameras.empty(), "the run has no training cameras");
  const int64_t n = std::min<int64_t>(max_views, cameras.size());
  at::Tensor rgb_sum = torch::zeros({3}), point_sum = torch::zeros({3});
  int64_t pixels = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Camera& camera = cameras[i * cameras.size() / n];
    RenderedView view = model.Render(camera);
    SelectionView sel = RenderSelection(model, selection, camera);
    auto mask = sel.mask.reshape(-1);
    const int64_t count = mask.sum().item<int64_t>();
    if (count == 0) continue;
    rgb_sum += view.rgb.reshape({-1, 3}).index({mask}).sum(0);
    RayBatch rays = GenerateRays(camera);
    auto depth = view.depth.reshape({-1}).index({mask}).unsqueeze(1);
    point_sum += (rays.origins.index({mask}) + rays.directions.index({mask}) * depth).sum(0);
    pixels += count;
  }
  NE_CHECK(pixels > 0, "the selection \"", selection.label(), "\" covers no pixel of ", n,
           " training views: lower --threshold or change the query");
  return {rgb_sum / pixels, point_sum / pixels, pixels};
}

}  // namespace nerfedit

namespace nerfedit {

double LabelIou(NerfModel& model, const Selection& selection, const Dataset& views, int label) {
  NE_CHECK(views.labels.defined(), "LabelIou: the views have no label maps");
  double intersection = 0, united = 0;
  for (int64_t v = 0; v < views.size(); ++v) {
    const at::Tensor mask = RenderSelection(model, selection, views.cameras[v]).mask;
    const at::Tensor truth = views.labels[v] == label;
    intersection += (mask & truth).sum().item<double>();
    united += (mask | truth).sum().item<double>();
  }
  return united > 0 ? intersection / united : 1.0;
}

}  // namespace nerfedit
