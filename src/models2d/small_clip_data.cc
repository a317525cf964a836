#include "models2d/small_clip_data.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "data/procedural_scene.h"
#include "models2d/clip.h"
#include "render/camera.h"
#include "util/error.h"

namespace nerfedit {

const std::vector<CaptionShape>& CaptionShapes() {
  static const std::vector<CaptionShape> shapes = {
      {"sphere", "sphere", "spheres", "ball", "balls"},
      {"box", "cube", "cubes", "box", "boxes"},
      {"cylinder", "cylinder", "cylinders", "", ""},
      {"cone", "cone", "cones", "", ""},
      {"torus", "torus", "tori", "ring", "rings"},
  };
  return shapes;
}

const std::vector<CaptionColour>& CaptionColours() {
  static const std::vector<CaptionColour> colours = {
      {"red", {0.85f, 0.12f, 0.10f}},    {"green", {0.15f, 0.70f, 0.20f}}, {"blue", {0.12f, 0.25f, 0.90f}},
      {"yellow", {0.92f, 0.85f, 0.15f}}, {"purple", {0.55f, 0.18f, 0.75f}}, {"orange", {0.95f, 0.50f, 0.08f}},
      {"white", {0.93f, 0.93f, 0.93f}},  {"cyan", {0.15f, 0.80f, 0.85f}},  {"grey", {0.55f, 0.55f, 0.55f}},
  };
  return colours;
}

const std::vector<std::string>& CaptionSizes() {
  static const std::vector<std::string> sizes = {"small", "large"};
  return sizes;
}

const std::vector<std::string>& CaptionCounts() {
  static const std::vector<std::string> counts = {"a", "two"};
  return counts;
}

int64_t NumObjectClasses() {
  return static_cast<int64_t>(CaptionShapes().size() * CaptionColours().size() * CaptionSizes().size() *
                              CaptionCounts().size());
}

ObjectClass ObjectClassAt(int64_t index) {
  NE_CHECK(index >= 0 && index < NumObjectClasses(), "object class index ", index, " is outside [0, ",
           NumObjectClasses(), ")");
  ObjectClass c;
  c.count = static_cast<int>(index % CaptionCounts().size());
  index /= CaptionCounts().size();
  c.size = static_cast<int>(index % CaptionSizes().size());
  index /= CaptionSizes().size();
  c.colour = static_cast<int>(index % CaptionColours().size());
  index /= CaptionColours().size();
  c.shape = static_cast<int>(index);
  return c;
}

int64_t ObjectClassIndex(const ObjectClass& c) {
  return ((static_cast<int64_t>(c.shape) * CaptionColours().size() + c.colour) * CaptionSizes().size() + c.size) *
             CaptionCounts().size() +
         c.count;
}

CaptionQuery QueryFor(const ObjectClass& c, CaptionTemplate t) {
  CaptionQuery q;
  switch (t) {
    case CaptionTemplate::kFull:
      q.size = c.size;
      [[fallthrough]];
    case CaptionTemplate::kNoSize:
      q.count = c.count;
      [[fallthrough]];
    case CaptionTemplate::kColourShape:
      q.colour = c.colour;
      q.shape = c.shape;
      break;
    case CaptionTemplate::kShape:
      q.shape = c.shape;
      break;
    case CaptionTemplate::kColour:
      q.colour = c.colour;
      break;
  }
  return q;
}

std::string MakeCaption(const ObjectClass& c, CaptionTemplate t, bool synonym) {
  const CaptionShape& shape = CaptionShapes().at(c.shape);
  const bool use_synonym = synonym && !shape.synonym.empty();
  const std::string& singular = use_synonym ? shape.synonym : shape.singular;
  const std::string& plural = use_synonym ? shape.synonym_plural : shape.plural;
  const std::string& colour = CaptionColours().at(c.colour).name;
  const std::string& count = CaptionCounts().at(c.count);
  const std::string& noun = c.count == 0 ? singular : plural;
  switch (t) {
    case CaptionTemplate::kFull:
      return count + " " + CaptionSizes().at(c.size) + " " + colour + " " + noun;
    case CaptionTemplate::kNoSize:
      return count + " " + colour + " " + noun;
    case CaptionTemplate::kColourShape:
      return colour + " " + singular;
    case CaptionTemplate::kShape:
      return singular;
    case CaptionTemplate::kColour:
      return colour;
  }
  NE_FAIL("MakeCaption: unknown template ", static_cast<int>(t));
}

std::vector<std::string> FullCaptions() {
  std::vector<std::string> captions;
  for (int64_t i = 0; i < NumObjectClasses(); ++i) captions.push_back(MakeCaption(ObjectClassAt(i), CaptionTemplate::kFull));
  return captions;
}

std::vector<std::string> CaptionCorpus() {
  std::vector<std::string> corpus;
  std::set<std::string> seen;
  for (int64_t i = 0; i < NumObjectClasses(); ++i) {
    for (int t = 0; t < kNumCaptionTemplates; ++t) {
      for (bool synonym : {false, true}) {
        std::string caption = MakeCaption(ObjectClassAt(i), static_cast<CaptionTemplate>(t), synonym);
        if (seen.insert(caption).second) corpus.push_back(caption);
      }
    }
  }
  corpus.push_back(kGroundCaption);
  return corpus;
}

float UniformFloat(std::mt19937_64& rng, float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(rng);
}

namespace {

// Object scale (characteristic half-extent in world units) of the two size words: a factor of two apart, so
// "small" and "large" stay distinct under the +-8% jitter and the viewpoint's perspective.
constexpr float kSmallRadius = 0.26f;
constexpr float kLargeRadius = 0.52f;

// ProceduralObject::size (half extents, see procedural_scene.h) of a shape of characteristic half-extent r,
// proportioned so that the five shapes of one size word look about equally big.
std::array<float, 3> ShapeSize(const std::string& shape, float r) {
  if (shape == "sphere") return {r, r, r};
  if (shape == "box") return {0.8f * r, 0.8f * r, 0.8f * r};
  if (shape == "cylinder") return {0.75f * r, 0.75f * r, r};
  if (shape == "cone") return {0.9f * r, 0.9f * r, r};
  if (shape == "torus") return {1.1f * r, 1.1f * r, 0.38f * r};
  NE_FAIL("small CLIP data: unknown render shape \"", shape, "\"");
}

}  // namespace

ProceduralObject MakeCaptionObject(int shape_index, int colour_index, float radius, float x, float y,
                                   std::mt19937_64& rng) {
  const CaptionShape& shape = CaptionShapes().at(shape_index);
  const CaptionColour& colour = CaptionColours().at(colour_index);
  ProceduralObject o;
  o.name = colour.name + " " + shape.singular;
  o.shape = shape.render_shape;
  for (int k = 0; k < 3; ++k) o.color[k] = std::clamp(colour.rgb[k] + UniformFloat(rng, -0.05f, 0.05f), 0.0f, 1.0f);
  o.size = ShapeSize(o.shape, radius);
  o.center = {x, y, o.size[2]};  // every shape's local box spans centre.z +- size.z: it rests on the ground
  o.rotation_z = UniformFloat(rng, 0.0f, static_cast<float>(M_PI));
  o.specular = UniformFloat(rng, 0.0f, 0.5f);
  return o;
}

CaptionedImage RenderCaptionedImage(const ObjectClass& c, uint64_t seed, int64_t image_size, int supersample) {
  NE_CHECK(image_size >= 8, "RenderCaptionedImage: image_size is ", image_size, ", expected >= 8");
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
  const float radius = (c.size == 0 ? kSmallRadius : kLargeRadius) * UniformFloat(rng, 0.92f, 1.08f);

  ProceduralScene scene = DefaultScene();
  scene.objects.clear();
  // Two large objects reach ~1.8 from the origin (bounds count the rotated box): widen ground and bounds to fit.
  scene.ground_half_extent = 1.8f;
  scene.aabb = {-2.0f, -2.0f, -0.05f, 2.0f, 2.0f, 1.5f};
  const float mid_x = UniformFloat(rng, -0.2f, 0.2f), mid_y = UniformFloat(rng, -0.2f, 0.2f);
  if (c.count == 0) {
    scene.objects.push_back(MakeCaptionObject(c.shape, c.colour, radius, mid_x, mid_y, rng));
  } else {
    // Two objects side by side with a gap, so neither hides the other from an elevated viewpoint.
    const float phi = UniformFloat(rng, 0.0f, 2.0f * static_cast<float>(M_PI));
    const float half = radius + UniformFloat(rng, 0.08f, 0.25f);
    scene.objects.push_back(MakeCaptionObject(c.shape, c.colour, radius, mid_x + half * std::cos(phi), mid_y + half * std::sin(phi), rng));
    scene.objects.push_back(MakeCaptionObject(c.shape, c.colour, radius, mid_x - half * std::cos(phi), mid_y - half * std::sin(phi), rng));
    scene.objects.back().name += " 2";  // scene object names are unique
  }
  // Unsaturated lighting colours: a tinted ground or sky must not look like one of the caption colours.
  // The default scene's white sky and light checker are part of the range.
  const float ground = UniformFloat(rng, 0.40f, 0.80f), checker = UniformFloat(rng, 0.65f, 0.9f);
  const float sky = std::min(1.0f, UniformFloat(rng, 0.15f, 1.15f));
  for (int k = 0; k < 3; ++k) {
    scene.ground_color_a[k] = std::clamp(ground + UniformFloat(rng, -0.03f, 0.03f), 0.0f, 1.0f);
    scene.ground_color_b[k] = std::clamp(ground * checker + UniformFloat(rng, -0.03f, 0.03f), 0.0f, 1.0f);
    scene.background[k] = std::clamp(sky + UniformFloat(rng, -0.04f, 0.04f), 0.0f, 1.0f);
  }

  const float azimuth = UniformFloat(rng, 0.0f, 2.0f * static_cast<float>(M_PI));
  const float elevation = UniformFloat(rng, 15.0f, 50.0f) * static_cast<float>(M_PI) / 180.0f;
  const float distance = UniformFloat(rng, 3.7f, 4.2f);
  const std::array<float, 3> target = {mid_x, mid_y, 0.3f};
  const std::array<float, 3> eye = {target[0] + distance * std::cos(elevation) * std::cos(azimuth),
                                    target[1] + distance * std::cos(elevation) * std::sin(azimuth),
                                    target[2] + distance * std::sin(elevation)};
  const Camera camera =
      Camera::LookAt(eye, target, {0.0f, 0.0f, 1.0f}, image_size, image_size, 40.0 * M_PI / 180.0);
  ProceduralRender render = RenderProcedural(scene, camera, supersample);
  CaptionedImage out;
  out.object_class = c;
  out.rgb = render.rgb;
  out.labels = render.labels;
  return out;
}

CaptionedImagePool RenderCaptionedImagePool(int64_t per_class, int64_t image_size, uint64_t seed, int supersample) {
  NE_CHECK(per_class >= 1, "RenderCaptionedImagePool: per_class is ", per_class, ", expected >= 1");
  const int64_t classes = NumObjectClasses();
  const int64_t n = classes * per_class;
  CaptionedImagePool pool;
  pool.images = torch::empty({n, 3, image_size, image_size});
  pool.classes = torch::empty({n}, torch::kLong);
  auto class_of = pool.classes.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) class_of[i] = i % classes;
  // One image per task; the renderer's own torch ops run inline inside the parallel region.
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t image_seed = seed * 1000003ull + static_cast<uint64_t>(i);
      CaptionedImage image = RenderCaptionedImage(ObjectClassAt(i % classes), image_seed, image_size, supersample);
      pool.images[i].copy_(ClipPreprocess(image.rgb, image_size));
    }
  });
  pool.by_class.resize(classes);
  for (int64_t i = 0; i < n; ++i) pool.by_class[i % classes].push_back(i);
  return pool;
}

void RerenderPoolRows(CaptionedImagePool* pool, const std::vector<int64_t>& rows, uint64_t first_seed,
                      int supersample) {
  const int64_t size = pool->images.size(3);
  at::parallel_for(0, static_cast<int64_t>(rows.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t row = rows[k];
      NE_CHECK(row >= 0 && row < pool->size(), "RerenderPoolRows: row ", row, " is outside [0, ", pool->size(), ")");
      const ObjectClass c = ObjectClassAt(pool->classes[row].item<int64_t>());
      CaptionedImage image = RenderCaptionedImage(c, first_seed + static_cast<uint64_t>(k), size, supersample);
      pool->images[row].copy_(ClipPreprocess(image.rgb, size));
    }
  });
}

}  // namespace nerfedit
