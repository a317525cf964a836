// nerfedit's built-in default data: an analytic scene (checkered ground square + named objects) ray-traced exactly,
// with per-pixel ray depth and object labels as ground truth. Z is up (Blender).
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include <array>
#include <string>
#include <vector>

#include "render/camera.h"

namespace nerfedit {

// `size` is the half-extent of the object's local bounding box (before the rotation about z):
//   sphere:   an ellipsoid with semi-axes size (a sphere of radius r when all three are r)
//   box:      half extents
//   cylinder: axis along z, cross-section semi-axes size.x, size.y, half height size.z, capped
//   cone:     apex at centre.z + size.z, capped base at centre.z - size.z with semi-axes size.x, size.y
//   torus:    in the xy plane, tube radius size.z, major radius size.x - size.z (size.x must equal size.y)
// The object's local frame is rotated by rotation_x about its x axis, then by rotation_z about z:
// x_world = centre + Rz(rotation_z) Rx(rotation_x) x_local (a tilted chair back, a nose cone pointing forward).
struct ProceduralObject {
  std::string name;
  std::string shape;
  std::array<float, 3> color{}, center{}, size{};
  float rotation_z = 0;     // radians, counter-clockwise seen from +z
  float specular = 0.25f;   // Blinn-Phong highlight strength (white light)
  float rotation_x = 0;     // radians, about the local x axis, applied before rotation_z (JSON: written when non-zero)
};

struct ProceduralScene {
  std::vector<ProceduralObject> objects;
  std::array<float, 3> ground_color_a{0.78f, 0.78f, 0.74f}, ground_color_b{0.52f, 0.52f, 0.56f};
  float ground_half_extent = 1.5f;  // the ground is the square |x|,|y| <= this at z = 0; 0: no ground
  float checker_size = 0.25f;
  std::array<float, 3> background{1, 1, 1};             // colour of rays that miss everything
  std::array<float, 3> light_direction{0.45f, 0.3f, 0.84f};  // from the scene towards the (directional) light
  float ambient = 0.3f;
  float shininess = 40;
  std::vector<float> aabb{-1.5f, -1.5f, -0.05f, 1.5f, 1.5f, 1.5f};  // min xyz, max xyz; everything fits inside

  nlohmann::json ToJson() const;
  static ProceduralScene FromJson(const nlohmann::json& json);  // strict: unknown keys are errors; calls Check()
  void Check() const;  // throws naming the object and field for invalid shapes, sizes, colours or bounds
  int FindObject(const std::string& name) const;  // index into objects, -1 when absent
};

// Ground + "red sphere", "blue box", "green cylinder", "yellow cone", "purple torus".
ProceduralScene DefaultScene();

// Throws naming `what` unless every channel is finite and in [0, 1] (scene and category colours).
void CheckUnitColor(const std::array<float, 3>& c, const std::string& what);

struct ProceduralRender {
  at::Tensor rgb;     // [H,W,3] f32 in [0,1]
  at::Tensor depth;   // [H,W] f32 distance along the pixel-centre ray, 0 for background
  at::Tensor labels;  // [H,W] i32: 0 background, 1 ground, 2+k object k
  at::Tensor alpha;   // [H,W] f32 share of the pixel's rays that hit a surface (the coverage behind rgb)
};

// rgb averages supersample^2 jittered rays per pixel (deterministic jitter); depth and labels come from the
// pixel-centre ray. Uses only what is in `scene`, so edited scenes render their own ground truth.
ProceduralRender RenderProcedural(const ProceduralScene& scene, const Camera& camera, int supersample = 2);

struct ProceduralDatasetOptions {
  TORCH_ARG(int, num_views) = 100;
  TORCH_ARG(int, width) = 128;
  TORCH_ARG(int, height) = 128;
  TORCH_ARG(double, radius) = 4.0;  // distance from the look-at point
  TORCH_ARG(double, fov_x_degrees) = 40;
  TORCH_ARG(int, seed) = 0;
  TORCH_ARG(double, min_elevation_degrees) = 15;
  TORCH_ARG(double, max_elevation_degrees) = 70;
  TORCH_ARG(int, supersample) = 2;
  // Write RGBA images whose alpha is each pixel's coverage (rays that miss everything are transparent), so that a
  // trainer's random backgrounds apply and an object coloured like the background cannot be explained as empty
  // space. RGB (composited on scene.background) when false.
  TORCH_ARG(bool, alpha) = true;

 public:  // TORCH_ARG leaves the section private
  void Check() const;
  nlohmann::json ToJson() const;
};

// Cameras on a spherical band around a point a little above the origin (kLookAtHeight), spread evenly (golden-angle
// azimuths, stratified equal-area elevations) and jittered; deterministic per seed.
constexpr float kLookAtHeight = 0.3f;
std::vector<Camera> HemisphereCameras(const ProceduralDatasetOptions& options);

// Writes out_dir/{transforms.json, objects.json, images/r_NNN.png, depth/r_NNN.npy, labels/r_NNN.png}, atomically as
// a whole (built in out_dir.tmp-<pid>, then renamed). Refuses to overwrite a non-empty out_dir.
void WriteProceduralDataset(const ProceduralScene& scene, const ProceduralDatasetOptions& options,
                            const std::string& out_dir);

}  // namespace nerfedit
