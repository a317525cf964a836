// Seeded random scenes for measuring selection on scenes nobody tuned for (bench/dff_random, `nerfedit scene make
// --random SEED`): 3-6 objects from the small CLIP's vocabulary of shapes and colours, random sizes, placements and
// rotations, and by construction the hard cases — two objects of one colour told apart only by shape, two of one
// shape told apart only by colour, and an object coloured like the background (white sky / grey ground).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/procedural_scene.h"

namespace nerfedit {

// Which hard case an object of a random scene belongs to (an object can be in several).
struct ObjectDifficulty {
  bool same_colour = false;      // another object has its colour: only its shape names it apart
  bool same_shape = false;       // another object has its shape: only its colour names it apart
  bool near_background = false;  // white or grey: close to the sky or the ground
};

struct RandomQueryScene {
  ProceduralScene scene;
  std::vector<ObjectDifficulty> difficulty;  // one per object
};

// Deterministic per seed. Object names are "<colour> <shape>" in the small CLIP's words ("white cube").
RandomQueryScene MakeRandomQueryScene(uint64_t seed);

// The difficulty classes of a scene's objects, from their names' colour and shape words.
std::vector<ObjectDifficulty> ClassifyObjects(const ProceduralScene& scene);

}  // namespace nerfedit
