#include "methods/dff/teacher.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "models2d/clip.h"
#include "models2d/vit.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/npy.h"
#include "util/progress_bar.h"
#include "models2d/small_clip.h"

namespace nerfedit {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

struct Teacher::Model {
  bool is_clip = true;
  ClipBundle clip;
  VitModel vit{nullptr};
  int64_t patch = 16, image_size = 224, context_length = 77;
};

namespace {

// [H,W,3] in [0,1] -> [1,3,H',W'] with H', W' the nearest multiples of the patch size (at least one patch).
at::Tensor ToPatchMultiple(const at::Tensor& image, int64_t patch) {
  auto x = image.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);
  const int64_t h = std::max<int64_t>(1, (image.size(0) + patch / 2) / patch) * patch;
  const int64_t w = std::max<int64_t>(1, (image.size(1) + patch / 2) / patch) * patch;
  if (h == image.size(0) && w == image.size(1)) return x.contiguous();
  return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear)
                               .align_corners(false));
}

at::Tensor Normalise(const at::Tensor& x, const std::vector<float>& mean, const std::vector<float>& std) {
  return (x - torch::tensor(mean).view({1, 3, 1, 1})) / torch::tensor(std).view({1, 3, 1, 1});
}
const std::vector<float> kImageNetMean{0.485f, 0.456f, 0.406f}, kImageNetStd{0.229f, 0.224f, 0.225f};

bool IsVitFolder(const std::string& dir) {
  const nlohmann::json config = ReadJsonFile(dir + "/config.json");
  const std::string type = config.value("model_type", "");
  return type == "vit" || type == "dino" || (!config.contains("vision_config") && config.contains("hidden_size"));
}

}  // namespace

Teacher::Teacher(TeacherOptions options) : options_(std::move(options)), model_(std::make_unique<Model>()) {
  NE_CHECK(!options_.dir.empty(), "no teacher folder given");
  NE_CHECK(fs::is_directory(options_.dir), "teacher folder ", options_.dir,
           " does not exist (a CLIP or DINO ViT folder: config.json + model.safetensors)");
  NE_CHECK(options_.mode == "dense" || options_.mode == "crops", "teacher mode must be dense or crops, got \"",
           options_.mode, "\"");
  torch::NoGradGuard no_grad;
  if (IsVitFolder(options_.dir)) {
    NE_CHECK(options_.mode == "dense", options_.dir, ": a DINO ViT teacher has no joint embedding for crops; use mode dense");
    model_->is_clip = false;
    model_->vit = LoadVit(options_.dir);
    model_->vit->eval();
    model_->patch = model_->vit->config().patch_size;
    model_->image_size = model_->vit->config().image_size;
  } else {
    model_->clip = LoadClipBundle(options_.dir);
    model_->clip.model->eval();
    model_->patch = model_->clip.config.vision.patch_size;
    model_->image_size = model_->clip.config.vision.image_size;
    model_->context_length = model_->clip.config.text.max_position_embeddings;
  }
}

Teacher::~Teacher() = default;
Teacher::Teacher(Teacher&&) noexcept = default;

int64_t Teacher::feature_dim() const {
  return model_->is_clip ? model_->clip.config.projection_dim : model_->vit->config().hidden_size;
}
bool Teacher::has_text() const { return model_->is_clip; }

bool Teacher::is_small_clip() const {
  return std::filesystem::exists(std::filesystem::path(options_.dir) / "small_clip_training.json");
}

std::string Teacher::Describe() const {
  return std::string(model_->is_clip ? "clip " : "dino vit ") + options_.mode + " " + std::to_string(feature_dim()) +
         "-d (" + options_.dir + ")";
}

at::Tensor Teacher::DenseFeatures(const at::Tensor& image) const {
  torch::NoGradGuard no_grad;
  NE_CHECK(image.dim() == 3 && image.size(2) == 3, "teacher: image must be [H,W,3], got ", image.sizes());
  if (!model_->is_clip) {
    auto pixels = Normalise(ToPatchMultiple(image, model_->patch), kImageNetMean, kImageNetStd);
    return F::normalize(model_->vit->DenseFeatures(pixels, "tokens")[0], F::NormalizeFuncOptions().dim(-1));
  }
  if (options_.mode == "dense") {
    auto pixels = ClipNormalise(ToPatchMultiple(image, model_->patch));
    return model_->clip.model->DensePatchEmbeddings(pixels)[0];
  }
  // Crops (LERF, Kerr et al. 2023): the image embedding of a window centred on each grid point, a quarter window
  // apart, cut and prepared by ClipCentredWindows exactly as the small CLIP's scene crops were in training.
  const int64_t crop = options_.crop, stride = std::max<int64_t>(1, crop / 4);
  const int64_t gh = (image.size(0) + stride - 1) / stride, gw = (image.size(1) + stride - 1) / stride;
  // Window centre at the grid cell's centre, (g + 0.5) * stride pixels (the last cell's may fall one past the edge).
  const auto centre = [stride](int64_t cells, int64_t pixels) {
    return ((torch::arange(cells, torch::kDouble) + 0.5) * stride).to(torch::kLong).clamp_max(pixels - 1);
  };
  const at::Tensor row = centre(gh, image.size(0)), col = centre(gw, image.size(1));
  const std::vector<at::Tensor> grid = torch::meshgrid({row, col}, "ij");
  const at::Tensor centres = torch::stack({grid[0].reshape(-1), grid[1].reshape(-1)}, 1);
  at::Tensor sum;
  for (double scale : options_.crop_scales) {
    const int64_t window = std::max<int64_t>(4, std::lround(scale * static_cast<double>(crop)));
    const at::Tensor batch = ClipCentredWindows(image, window, centres, model_->image_size);  // [gh*gw,3,S,S]
    std::vector<at::Tensor> embeds;
    for (int64_t b = 0; b < batch.size(0); b += 256) {
      embeds.push_back(model_->clip.model->EncodeImage(batch.slice(0, b, std::min(b + 256, batch.size(0)))));
    }
    const at::Tensor e = at::cat(embeds);
    sum = sum.defined() ? sum + e : e;
  }
  return F::normalize(sum, F::NormalizeFuncOptions().dim(-1)).view({gh, gw, -1});
}

at::Tensor Teacher::EmbedTexts(const std::vector<std::string>& texts) const {
  NE_CHECK(model_->is_clip, "text queries need a CLIP teacher; ", options_.dir,
           " is a DINO ViT (use a click or an image patch instead)");
  torch::NoGradGuard no_grad;
  return model_->clip.model->EncodeText(model_->clip.tokenizer.Tokenize(texts, model_->context_length));
}

at::Tensor Teacher::EmbedImage(const at::Tensor& image) const {
  torch::NoGradGuard no_grad;
  if (!model_->is_clip) {
    auto pixels = Normalise(ToPatchMultiple(image, model_->patch), kImageNetMean, kImageNetStd);
    return F::normalize(model_->vit->ClassToken(pixels)[0], F::NormalizeFuncOptions().dim(-1));
  }
  return model_->clip.model->EncodeImage(ClipPreprocess(image, model_->image_size).unsqueeze(0))[0];
}

std::string DefaultTeacherDir() { return DefaultSmallClipDir(); }

at::Tensor ComputeTeacherFeatures(const Teacher& teacher, const at::Tensor& images, const std::string& cache_file,
                                  bool progress) {
  NE_CHECK(images.dim() == 4 && images.size(3) == 3, "teacher features: images must be [N,H,W,3], got ", images.sizes());
  // What the cache was made from: the teacher, its mode and a fingerprint of the images.
  const nlohmann::json key = {{"teacher", teacher.Describe()},
                              {"crop", teacher.options().crop},
                              {"crop_scales", teacher.options().crop_scales},
                              {"images", images.sizes().vec()},
                              {"image_sum", images.sum().item<double>()}};
  const std::string key_file = cache_file + ".json";
  if (fs::exists(cache_file) && fs::exists(key_file)) {
    try {
      if (nlohmann::json::parse(ReadTextFile(key_file)) == key) return ReadNpy(cache_file);
    } catch (const std::exception&) {
      // An unreadable cache is recomputed below.
    }
  }
  std::unique_ptr<ProgressBar> bar;
  if (progress) bar = std::make_unique<ProgressBar>("teacher", images.size(0));
  std::vector<at::Tensor> maps;
  for (int64_t i = 0; i < images.size(0); ++i) {
    maps.push_back(teacher.DenseFeatures(images[i]));
    if (bar) bar->Update(i + 1, teacher.Describe());
  }
  if (bar) bar->Finish();
  at::Tensor features = at::stack(maps).contiguous();
  WriteNpy(cache_file, features);
  WriteTextAtomically(key_file, key.dump(1));
  return features;
}

at::Tensor SampleFeatureMaps(const at::Tensor& features, const at::Tensor& camera, const at::Tensor& xy, int64_t width,
                             int64_t height) {
  const int64_t h = features.size(1), w = features.size(2), f = features.size(3);
  auto u = xy.select(1, 0) * (static_cast<double>(w) / width) - 0.5;   // continuous patch coordinates
  auto v = xy.select(1, 1) * (static_cast<double>(h) / height) - 0.5;
  auto u0 = u.floor(), v0 = v.floor();
  auto fu = (u - u0).unsqueeze(1), fv = (v - v0).unsqueeze(1);
  auto x0 = u0.to(at::kLong).clamp(0, w - 1), x1 = (u0 + 1).to(at::kLong).clamp(0, w - 1);
  auto y0 = v0.to(at::kLong).clamp(0, h - 1), y1 = (v0 + 1).to(at::kLong).clamp(0, h - 1);
  auto flat = features.reshape({-1, f});
  auto base = camera.to(at::kLong) * (h * w);
  auto at = [&](const at::Tensor& y, const at::Tensor& x) { return flat.index_select(0, base + y * w + x); };
  return (1 - fv) * ((1 - fu) * at(y0, x0) + fu * at(y0, x1)) + fv * ((1 - fu) * at(y1, x0) + fu * at(y1, x1));
}

}  // namespace nerfedit
