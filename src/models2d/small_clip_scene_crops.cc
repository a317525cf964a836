#include "models2d/small_clip_scene_crops.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "models2d/clip.h"
#include "models2d/small_clip_data.h"
#include "render/camera.h"
#include "util/error.h"

namespace nerfedit {

namespace {

// The (shape, colour) caption indices of every object of a RandomCaptionScene, in scene order.
struct CaptionedScene {
  ProceduralScene scene;
  std::vector<std::pair<int, int>> objects;
};

CaptionedScene MakeCaptionedScene(uint64_t seed, double same_colour_pairs) {
  std::mt19937_64 rng(seed * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
  CaptionedScene out;
  out.scene = DefaultScene();
  out.scene.objects.clear();
  const int count = std::uniform_int_distribution<int>(3, 5)(rng);
  std::set<std::pair<int, int>> used;
  std::vector<std::array<float, 3>> placed;  // x, y, footprint radius
  // Drawn only when asked for, so that scenes without same-colour pairs keep their random stream.
  const bool pair = same_colour_pairs > 0 && UniformFloat(rng, 0.0f, 1.0f) < same_colour_pairs;
  for (int attempt = 0; attempt < 200 && static_cast<int>(out.objects.size()) < count; ++attempt) {
    const int shape = std::uniform_int_distribution<int>(0, static_cast<int>(CaptionShapes().size()) - 1)(rng);
    int colour = std::uniform_int_distribution<int>(0, static_cast<int>(CaptionColours().size()) - 1)(rng);
    if (pair && out.objects.size() == 1) colour = out.objects[0].second;  // the same-colour distractor
    if (used.count({shape, colour})) continue;
    // Between the caption images' "small" (0.26) and "large" (0.52): the default scene's objects are 0.26-0.42.
    const float radius = UniformFloat(rng, 0.22f, 0.46f);
    const float footprint = 1.15f * radius;  // the torus is the widest shape per radius
    // Scene bounds count the rotated local box (up to sqrt(2) x 1.1 r for the torus): keep it inside +-1.45.
    const float reach = 1.45f - 1.6f * radius;
    const float x = UniformFloat(rng, -reach, reach), y = UniformFloat(rng, -reach, reach);
    bool overlaps = false;
    for (const auto& p : placed) overlaps |= std::hypot(x - p[0], y - p[1]) < footprint + p[2] + 0.08f;
    if (overlaps) continue;
    out.scene.objects.push_back(MakeCaptionObject(shape, colour, radius, x, y, rng));
    out.objects.emplace_back(shape, colour);
    used.insert({shape, colour});
    placed.push_back({x, y, footprint});
  }
  // Around the default scene's ground and white sky.
  const float ground = UniformFloat(rng, 0.85f, 1.1f), checker = UniformFloat(rng, 0.6f, 0.8f);
  for (int k = 0; k < 3; ++k) {
    out.scene.ground_color_a[k] = std::clamp(0.77f * ground + UniformFloat(rng, -0.03f, 0.03f), 0.0f, 1.0f);
    out.scene.ground_color_b[k] = std::clamp(0.77f * ground * checker + UniformFloat(rng, -0.03f, 0.03f), 0.0f, 1.0f);
    out.scene.background[k] = std::clamp(UniformFloat(rng, 0.8f, 1.0f), 0.0f, 1.0f);
  }
  out.scene.Check();
  return out;
}

// Renders scene `seed` from a random viewpoint of the procedural dataset's band and cuts crops_per_scene windows
// into images[first ...] (shape/colour rows likewise).
void RenderSceneCrops(SceneCropPool* pool, int64_t first, uint64_t seed, const SceneCropOptions& options) {
  const CaptionedScene captioned = MakeCaptionedScene(seed, options.same_colour_pairs());
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  const float azimuth = UniformFloat(rng, 0.0f, 2.0f * static_cast<float>(M_PI));
  const float elevation = UniformFloat(rng, 15.0f, 70.0f) * static_cast<float>(M_PI) / 180.0f;
  const float distance = UniformFloat(rng, 3.6f, 4.4f);
  const std::array<float, 3> target = {0.0f, 0.0f, kLookAtHeight};
  const std::array<float, 3> eye = {distance * std::cos(elevation) * std::cos(azimuth),
                                    distance * std::cos(elevation) * std::sin(azimuth),
                                    target[2] + distance * std::sin(elevation)};
  const int64_t size = options.scene_image_size();
  const Camera camera = Camera::LookAt(eye, target, {0.0f, 0.0f, 1.0f}, size, size, 40.0 * M_PI / 180.0);
  const ProceduralRender render = RenderProcedural(captioned.scene, camera, options.supersample());

  // Candidate centre pixels: per visible object, and the ground.
  const at::Tensor labels = render.labels.reshape(-1);
  std::vector<at::Tensor> object_pixels;
  std::vector<int> object_index;
  for (size_t k = 0; k < captioned.objects.size(); ++k) {
    at::Tensor pixels = torch::nonzero(labels == static_cast<int>(2 + k)).reshape(-1);
    if (pixels.size(0) >= 4) object_pixels.push_back(pixels), object_index.push_back(static_cast<int>(k));
  }
  const at::Tensor ground_pixels = torch::nonzero(labels == 1).reshape(-1);

  std::bernoulli_distribution on_ground(options.ground_fraction());
  at::Tensor centres = torch::empty({options.crops_per_scene(), 2}, torch::kLong);
  for (int64_t c = 0; c < options.crops_per_scene(); ++c) {
    const bool ground = object_pixels.empty() || (ground_pixels.size(0) > 0 && on_ground(rng));
    int64_t pixel = 0, shape = -1, colour = -1;
    if (ground) {
      NE_CHECK(ground_pixels.size(0) > 0, "scene crop: the view shows neither objects nor ground");
      pixel = ground_pixels[std::uniform_int_distribution<int64_t>(0, ground_pixels.size(0) - 1)(rng)].item<int64_t>();
    } else {
      const size_t k = std::uniform_int_distribution<size_t>(0, object_pixels.size() - 1)(rng);
      const at::Tensor& pixels = object_pixels[k];
      pixel = pixels[std::uniform_int_distribution<int64_t>(0, pixels.size(0) - 1)(rng)].item<int64_t>();
      shape = captioned.objects[object_index[k]].first;
      colour = captioned.objects[object_index[k]].second;
    }
    centres[c][0] = pixel / size, centres[c][1] = pixel % size;
    pool->shape[first + c] = shape;
    pool->colour[first + c] = colour;
  }
  // Windows centred on the pixels, cut and prepared as the feature-field teacher cuts and prepares its crops.
  pool->images.slice(0, first, first + options.crops_per_scene())
      .copy_(ClipCentredWindows(render.rgb, options.crop(), centres, pool->images.size(3)));
}

}  // namespace

void SceneCropOptions::Check() const {
  NE_CHECK(scene_image_size() >= 16, "scene crops: scene_image_size is ", scene_image_size(), ", expected >= 16");
  NE_CHECK(crop() >= 4 && crop() <= scene_image_size(), "scene crops: crop is ", crop(), ", expected in [4, ",
           scene_image_size(), "]");
  NE_CHECK(crops_per_scene() >= 1, "scene crops: crops_per_scene is ", crops_per_scene(), ", expected >= 1");
  NE_CHECK(ground_fraction() >= 0 && ground_fraction() <= 1, "scene crops: ground_fraction is ", ground_fraction(),
           ", expected in [0, 1]");
  NE_CHECK(supersample() >= 1, "scene crops: supersample is ", supersample(), ", expected >= 1");
  NE_CHECK(same_colour_pairs() >= 0 && same_colour_pairs() <= 1, "scene crops: same_colour_pairs is ",
           same_colour_pairs(), ", expected in [0, 1]");
}

ProceduralScene RandomCaptionScene(uint64_t seed, double same_colour_pairs) {
  return MakeCaptionedScene(seed, same_colour_pairs).scene;
}

SceneCropPool RenderSceneCropPool(int64_t scenes, int64_t image_size, uint64_t seed, const SceneCropOptions& options) {
  options.Check();
  NE_CHECK(scenes >= 1, "scene crops: scenes is ", scenes, ", expected >= 1");
  const int64_t n = scenes * options.crops_per_scene();
  SceneCropPool pool;
  pool.images = torch::empty({n, 3, image_size, image_size});
  pool.shape = torch::empty({n}, torch::kLong);
  pool.colour = torch::empty({n}, torch::kLong);
  at::parallel_for(0, scenes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      RenderSceneCrops(&pool, s * options.crops_per_scene(), seed * 1000003ull + static_cast<uint64_t>(s), options);
    }
  });
  return pool;
}

void RerenderSceneSlot(SceneCropPool* pool, int64_t slot, uint64_t seed, const SceneCropOptions& options) {
  NE_CHECK(slot >= 0 && (slot + 1) * options.crops_per_scene() <= pool->size(), "scene crops: slot ", slot,
           " is outside the pool of ", pool->size(), " crops");
  RenderSceneCrops(pool, slot * options.crops_per_scene(), seed, options);
}

}  // namespace nerfedit
