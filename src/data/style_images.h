// Style images for stylisation (AdaIN, StylizedNeRF): procedural patterns nerfedit draws itself (seeded, any size),
// images a user passes, and the paintings in ../shared/data/styles when that folder exists.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nerfedit {

// The procedural kinds: stripes, dots, waves, mosaic (Voronoi cells with dark seams), noise (multi-octave
// colour-field noise), checker, rings (concentric), strokes (brush-stroke-like streaks along a smooth flow).
const std::vector<std::string>& ProceduralStyleNames();

// A procedural style image [3,height,width] f32 in [0,1]: the same (name, seed, size) always gives the same image;
// palette, scale, orientation and layout all vary with the seed. Throws naming the unknown kind (and the known ones).
at::Tensor ProceduralStyle(const std::string& name, uint64_t seed, int64_t height, int64_t width);

// A PNG/JPEG style image as [3,H,W] f32 in [0,1] (alpha composited on white). Throws nerfedit::Error naming the path
// when it is missing, not a file, or not a decodable image.
at::Tensor LoadStyleImage(const std::string& path);

// A style given on a command line: "procedural:NAME" or "procedural:NAME:SEED" (seed 0 by default), drawn at
// height x width; anything else is an image path (loaded at its own size: height/width are ignored).
at::Tensor ResolveStyle(const std::string& spec, int64_t height, int64_t width);

// The image files (.png/.jpg/.jpeg, sorted) in dir; empty when dir does not exist.
std::vector<std::string> ListStyleImages(const std::string& dir);

// A random crop of image [3,H,W] to size x size after rescaling its shorter side to a random length in
// [size, max_scale * size] (area filter when shrinking, bilinear when enlarging), randomly flipped; seeded.
at::Tensor RandomStyleCrop(const at::Tensor& image, int64_t size, double max_scale, uint64_t seed);

}  // namespace nerfedit
