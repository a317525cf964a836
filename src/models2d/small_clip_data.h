// Procedural image–caption pairs for training a small CLIP from scratch: objects of the procedural scenes
// (shape x colour x size x count), rendered from random viewpoints, captioned from templates
// ("a small red cube", "two blue spheres", "red sphere", "sphere").
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/procedural_scene.h"

namespace nerfedit {

struct CaptionShape {
  std::string render_shape;  // ProceduralObject::shape
  std::string singular;      // caption word
  std::string plural;
  std::string synonym;         // another word trained for the same shape ("box" for "cube"); empty if none
  std::string synonym_plural;
};

struct CaptionColour {
  std::string name;
  std::array<float, 3> rgb;  // base albedo in [0,1]
};

const std::vector<CaptionShape>& CaptionShapes();    // sphere, cube, cylinder, cone, torus
const std::vector<CaptionColour>& CaptionColours();  // red, green, blue, yellow, purple, orange, white, cyan
const std::vector<std::string>& CaptionSizes();      // small, large
const std::vector<std::string>& CaptionCounts();     // "a" (one object), "two"

// What an image shows: indices into the tables above. Every image holds `count` identical objects.
struct ObjectClass {
  int shape = 0, colour = 0, size = 0, count = 0;
  bool operator==(const ObjectClass& o) const {
    return shape == o.shape && colour == o.colour && size == o.size && count == o.count;
  }
};

int64_t NumObjectClasses();                 // shapes * colours * sizes * counts
ObjectClass ObjectClassAt(int64_t index);   // inverse of ObjectClassIndex
int64_t ObjectClassIndex(const ObjectClass& c);

// Caption templates, from most to least specific. kFull is the zero-shot prompt set.
enum class CaptionTemplate {
  kFull,         // "a small red cube" / "two large blue spheres"
  kNoSize,       // "a red cube" / "two blue spheres"
  kColourShape,  // "red cube" (any count, any size)
  kShape,        // "cube"
  kColour,       // "red"
};
constexpr int kNumCaptionTemplates = 5;

// What a caption says; -1 = not said. A caption describes an image when every attribute it says matches.
struct CaptionQuery {
  int shape = -1, colour = -1, size = -1, count = -1;
  bool Describes(const ObjectClass& c) const {
    return (shape < 0 || shape == c.shape) && (colour < 0 || colour == c.colour) && (size < 0 || size == c.size) &&
           (count < 0 || count == c.count);
  }
};

CaptionQuery QueryFor(const ObjectClass& c, CaptionTemplate t);
// The caption of class c in template t; `synonym` uses the shape's synonym word when it has one.
std::string MakeCaption(const ObjectClass& c, CaptionTemplate t, bool synonym = false);
// The zero-shot prompt set: MakeCaption(ObjectClassAt(i), kFull) for every class i, in class order.
std::vector<std::string> FullCaptions();
// The caption of a scene crop centred on the ground (see small_clip_scene_crops.h).
inline constexpr const char* kGroundCaption = "ground";
// Every distinct caption of every template (with synonyms), and kGroundCaption: the tokenizer's training corpus.
std::vector<std::string> CaptionCorpus();

// A uniform draw in [lo, hi) (the procedural generators' jitter).
float UniformFloat(std::mt19937_64& rng, float lo, float hi);

// One rendered pair.
struct CaptionedImage {
  ObjectClass object_class;
  at::Tensor rgb;     // [S,S,3] f32 in [0,1]
  at::Tensor labels;  // [S,S] i32: 0 background, 1 ground, 2+k object k
};

// One object of caption shape and colour (indices into the tables above) with characteristic half-extent
// `radius`, resting on the ground at (x, y); colour jitter, rotation and specular are drawn from rng.
ProceduralObject MakeCaptionObject(int shape, int colour, float radius, float x, float y, std::mt19937_64& rng);

// Renders one image of class c; `seed` fixes the viewpoint, placement, jitter and lighting colours.
CaptionedImage RenderCaptionedImage(const ObjectClass& c, uint64_t seed, int64_t image_size, int supersample = 2);

// A fixed pool of rendered images, `per_class` per class, rendered in parallel. Different `seed`s give
// disjoint viewpoints/placements (the held-out split uses its own seed).
struct CaptionedImagePool {
  at::Tensor images;   // [N,3,S,S] f32, already normalised by ClipPreprocess
  at::Tensor classes;  // [N] i64 class index
  std::vector<std::vector<int64_t>> by_class;  // by_class[k] = rows of class k
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

CaptionedImagePool RenderCaptionedImagePool(int64_t per_class, int64_t image_size, uint64_t seed,
                                           int supersample = 2);

// Re-renders pool rows (keeping each row's class) with image seeds first_seed, first_seed + 1, ...: training
// replaces part of its pool with fresh viewpoints every step so the ViT does not memorise a fixed set.
void RerenderPoolRows(CaptionedImagePool* pool, const std::vector<int64_t>& rows, uint64_t first_seed,
                      int supersample = 2);

}  // namespace nerfedit
