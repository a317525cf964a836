#include "methods/dff/random_scenes.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "models2d/small_clip_data.h"
#include "util/error.h"

namespace nerfedit {

namespace {

// Index of a colour word in the small CLIP's vocabulary, -1 when it has none.
int ColourIndex(const std::string& name) {
  const auto& colours = CaptionColours();
  for (size_t i = 0; i < colours.size(); ++i) {
    if (colours[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool NearBackground(const std::string& colour) { return colour == "white" || colour == "grey"; }

}  // namespace

std::vector<ObjectDifficulty> ClassifyObjects(const ProceduralScene& scene) {
  std::vector<std::pair<std::string, std::string>> words;  // (colour, shape)
  for (const auto& o : scene.objects) {
    const auto space = o.name.find(' ');
    words.emplace_back(o.name.substr(0, space), space == std::string::npos ? "" : o.name.substr(space + 1));
  }
  std::vector<ObjectDifficulty> out(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    for (size_t j = 0; j < words.size(); ++j) {
      if (i == j) continue;
      out[i].same_colour |= words[i].first == words[j].first;
      out[i].same_shape |= words[i].second == words[j].second;
    }
    out[i].near_background = NearBackground(words[i].first);
  }
  return out;
}

RandomQueryScene MakeRandomQueryScene(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x2545F4914F6CDD1Dull + 0x9E3779B97F4A7C15ull);
  const int num_shapes = static_cast<int>(CaptionShapes().size());
  const int num_colours = static_cast<int>(CaptionColours().size());
  auto random_int = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int count = random_int(3, 6);
  // The hard cases first: a same-colour pair (different shapes), a same-shape pair (different colours), one
  // background-coloured object; then random distinct (shape, colour) objects.
  std::vector<std::pair<int, int>> wanted;  // (shape, colour)
  const int pair_colour = random_int(0, num_colours - 1);
  const int shape_a = random_int(0, num_shapes - 1);
  int shape_b = random_int(0, num_shapes - 2);
  shape_b += shape_b >= shape_a;
  wanted.push_back({shape_a, pair_colour});
  wanted.push_back({shape_b, pair_colour});
  int colour_b = random_int(0, num_colours - 2);
  colour_b += colour_b >= pair_colour;
  wanted.push_back({shape_a, colour_b});  // shares shape_a with the first object
  if (count >= 4) {
    const int grey = ColourIndex("grey"), white = ColourIndex("white");
    NE_CHECK(white >= 0, "random scenes: the small CLIP's vocabulary has no \"white\"");
    wanted.push_back({random_int(0, num_shapes - 1), grey >= 0 && random_int(0, 1) ? grey : white});
  }
  while (static_cast<int>(wanted.size()) < count) wanted.push_back({random_int(0, num_shapes - 1), random_int(0, num_colours - 1)});
  // No two identical names: a duplicate takes another colour.
  for (size_t i = 0; i < wanted.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (wanted[i] == wanted[j]) {
        wanted[i].second = (wanted[i].second + 1 + random_int(0, num_colours - 2)) % num_colours;
        j = static_cast<size_t>(-1);  // recheck against every earlier object
      }
    }
  }
  std::shuffle(wanted.begin(), wanted.end(), rng);

  RandomQueryScene out;
  out.scene = DefaultScene();
  out.scene.objects.clear();
  std::vector<std::array<float, 3>> placed;  // x, y, footprint radius
  for (const auto& [shape, colour] : wanted) {
    for (int attempt = 0; attempt < 500; ++attempt) {
      const float radius = UniformFloat(rng, 0.2f, 0.4f);
      const float footprint = 1.15f * radius;  // the torus is the widest shape per radius
      const float reach = 1.45f - 1.6f * radius;  // the rotated local box stays inside the scene bounds
      const float x = UniformFloat(rng, -reach, reach), y = UniformFloat(rng, -reach, reach);
      bool overlaps = false;
      for (const auto& p : placed) overlaps |= std::hypot(x - p[0], y - p[1]) < footprint + p[2] + 0.1f;
      if (overlaps) continue;
      out.scene.objects.push_back(MakeCaptionObject(shape, colour, radius, x, y, rng));
      placed.push_back({x, y, footprint});
      break;
    }
  }
  NE_CHECK(out.scene.objects.size() >= 3, "random scene ", seed, ": could not place three objects");
  out.scene.Check();
  out.difficulty = ClassifyObjects(out.scene);
  return out;
}

}  // namespace nerfedit
