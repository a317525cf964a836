// Procedural object categories with exact ground truth, for category models learnt from one view per object
// (LOLNeRF, CLIP-NeRF): seeded random instances of a parametric family built from the ray tracer's primitives
// (procedural_scene.h), each seen once from a random camera, plus held-apart views for evaluation.
//
// Families (canonical frame: z up, the object's front towards +y; scene units):
//   heads:  head ellipsoid (centre at the origin), hair cap, neck, ears, eyes (white + iris), nose cone, mouth.
//           Landmarks: left eye centre, right eye centre, nose tip, left mouth corner, right mouth corner ("left" is
//           the subject's left, -x, on the image's right in a frontal view). Cameras: a frontal hemisphere, yaw within +-50 deg, pitch within +-25 deg, looking
//           at the head. Background: a random texture at infinity (a function of the world ray direction: gradient,
//           stripes, checker or smooth noise in two to three random colours), so it is the same in every view of the
//           instance and a background model (an environment map conditioned on the latent) can explain it.
//   chairs: seat, four legs (boxes or cylinders), a back tilted backwards, optional armrests; resting on z = 0.
//           Landmarks: seat corners (front left, front right, back left, back right, on the seat's top face; left is
//           -x, a sitter's left) and the centre of the back's top edge. Cameras: the upper hemisphere (any azimuth, elevation 10-60 deg).
//           Background: white by default (the images' alpha is the mask), or textured like the heads'.
//
// Dataset layout written by WriteCategoryDataset (out_dir/):
//   transforms.json       the training frames, one per instance (transforms.json family, read by LoadTransformsDataset)
//   transforms_eval.json  the held-apart views, `eval_views` per instance, same keys (load it by its file path)
//   category.json         kind, options, landmark and part names, per instance its parameters, background and the
//                         exact 3D landmarks [5,3] in the canonical frame
//   images/, masks/, depth/, labels/   and eval/{images,masks,depth,labels}/ for the held-apart views
// Images are RGB, composited on the instance's background. nerfedit extensions, per frame:
//   "latent_index"    int, the instance the frame shows (the row of its latent code); 0..instances-1
//   "landmarks"       [[x,y] x 5] pixel coordinates of the five landmarks (pixel centres at +0.5, y down), with the
//                     dataset's Gaussian landmark noise (sigma in pixels per coordinate) added
//   "mask_file_path"  8-bit grey PNG: the exact foreground coverage (share of the pixel's rays that hit the object)
//   "depth_file_path" / "label_file_path" as for the procedural scene (label ids: 0 background, 2+k part k)
// and top level "category" (the kind) and "landmark_names". LoadTransformsDataset ignores the per-frame extensions;
// LoadCategoryDataset reads them as well.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/arg.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/procedural_scene.h"
#include "render/camera.h"

namespace nerfedit {

using Rgb = std::array<float, 3>;

// A head's proportions and colours. Lengths in scene units; fractions are of the head ellipsoid's semi-axes.
struct HeadParams {
  std::array<float, 3> head_size{0.41f, 0.47f, 0.56f};  // head ellipsoid semi-axes (width x, depth y, height z)
  Rgb skin_color{0.82f, 0.62f, 0.48f}, hair_color{0.30f, 0.18f, 0.09f}, eye_color{0.35f, 0.22f, 0.12f};
  Rgb lip_color{0.70f, 0.30f, 0.28f};
  float eye_spacing = 0.40f;   // eye centres at x = +-eye_spacing * head_size.x
  float eye_height = 0.12f;    // eye centres at z = eye_height * head_size.z
  float eye_radius = 0.06f;
  float nose_height = -0.12f;  // nose base at z = nose_height * head_size.z
  float nose_length = 0.15f;
  float nose_width = 0.065f;   // half width of the nose's base
  float nose_droop = 0.35f;    // radians the nose points below horizontal
  float mouth_height = -0.48f;  // z = mouth_height * head_size.z
  float mouth_width = 0.13f;    // half width
  float ear_size = 0.13f;       // ear half height
  float hair_back = 0.12f;      // hair cap centre shifted back by this * head_size.y ...
  float hair_up = 0.12f;        // ... and up by this * head_size.z
  float hair_scale = 1.06f;     // hair cap semi-axes = head_size * this
  float neck_radius = 0.2f;

  nlohmann::json ToJson() const;
  static HeadParams FromJson(const nlohmann::json& json);  // strict; calls Check()
  void Check() const;
};

struct ChairParams {
  float seat_width = 0.9f, seat_depth = 0.8f, seat_thickness = 0.09f;  // full sizes
  float leg_length = 0.75f;     // the seat's underside is at z = leg_length
  float leg_thickness = 0.07f;  // full width (diameter for round legs)
  bool round_legs = false;
  float back_height = 0.75f, back_thickness = 0.07f;
  float back_width = 0.9f;
  float back_tilt = 0.15f;      // radians, the top leaning backwards (-y)
  bool armrests = false;
  float arm_height = 0.25f;     // armrest height above the seat's top
  Rgb seat_color{0.6f, 0.4f, 0.2f}, leg_color{0.3f, 0.2f, 0.1f}, back_color{0.6f, 0.4f, 0.2f};
  Rgb arm_color{0.6f, 0.4f, 0.2f};

  nlohmann::json ToJson() const;
  static ChairParams FromJson(const nlohmann::json& json);  // strict; calls Check()
  void Check() const;
};

// A random texture at infinity, a function of the world ray direction.
struct BackdropParams {
  std::string pattern = "gradient";  // gradient | stripes | checker | noise
  Rgb color_a{0.5f, 0.6f, 0.8f}, color_b{0.9f, 0.9f, 0.8f}, color_c{0.3f, 0.3f, 0.3f};
  float frequency = 12;  // cycles per radian / 2pi
  float angle = 0;       // stripe orientation, radians
  float phase = 0;

  nlohmann::json ToJson() const;
  static BackdropParams FromJson(const nlohmann::json& json);  // strict; calls Check()
  void Check() const;
};

// [H,W,3] f32: the backdrop seen through each pixel centre of `camera`.
at::Tensor RenderBackdrop(const BackdropParams& backdrop, const Camera& camera);

constexpr int kNumLandmarks = 5;
const std::vector<std::string>& LandmarkNames(const std::string& kind);  // 5 names; throws for an unknown kind

// One instance in its canonical frame.
struct CategoryInstance {
  std::string kind;            // heads | chairs
  nlohmann::json params;       // HeadParams or ChairParams as JSON
  ProceduralScene scene;       // parts as named objects, no ground, white (unused) background
  at::Tensor landmarks;        // [5,3] f32 exact landmark positions in the canonical frame
};

CategoryInstance MakeHead(const HeadParams& params);
CategoryInstance MakeChair(const ChairParams& params);
// Random parameters (deterministic per seed; the same on every machine).
HeadParams RandomHeadParams(uint64_t seed);
ChairParams RandomChairParams(uint64_t seed);
BackdropParams RandomBackdrop(uint64_t seed);
// The instance made from the default (mean) parameters: its landmarks are a template for pose estimation.
CategoryInstance MeanInstance(const std::string& kind);

struct CategoryDatasetOptions {
  TORCH_ARG(std::string, kind) = "heads";  // heads | chairs
  TORCH_ARG(int, instances) = 100;
  TORCH_ARG(int, size) = 64;              // square images, pixels
  TORCH_ARG(int, seed) = 0;
  TORCH_ARG(double, landmark_noise_px) = 0;  // Gaussian sigma per coordinate
  TORCH_ARG(int, eval_views) = 4;           // held-apart views per instance (0: none, no transforms_eval.json)
  TORCH_ARG(int, supersample) = 2;          // rays per pixel = supersample^2 (colour and mask)
  TORCH_ARG(std::string, background) = "auto";  // auto (heads textured, chairs white) | textured | white

 public:  // TORCH_ARG leaves the section private
  void Check() const;
  nlohmann::json ToJson() const;
  static CategoryDatasetOptions FromJson(const nlohmann::json& json);  // strict; calls Check()
  bool Textured() const;  // the background resolved
};

// The camera rig of a kind: the training view's distribution and the held-apart views.
struct CategoryRig {
  std::array<float, 3> target;  // look-at point
  double radius = 3;            // camera distance from the target
  double fov_x_degrees = 30;
  std::array<float, 3> aabb_min, aabb_max;  // holds every instance
};
CategoryRig RigFor(const std::string& kind);

// Instance `index` of a dataset: parameters, backdrop and cameras all follow from (seed, index) alone.
struct CategorySample {
  CategoryInstance instance;
  BackdropParams backdrop;
  bool textured = false;
  Camera train_camera;
  std::vector<Camera> eval_cameras;
};
CategorySample MakeCategorySample(const CategoryDatasetOptions& options, int64_t index);

// Pixel coordinates [...,2] of world points [...,3] seen by `camera` (pixel centres at +0.5, y down). Points
// behind the camera give non-finite or mirrored values; callers keep points in front.
at::Tensor ProjectPoints(const Camera& camera, const at::Tensor& points);

// Writes the dataset described in the header comment, atomically as a whole (built in out_dir.tmp-<pid>, then
// renamed); instances are rendered in parallel (at::parallel_for). Refuses to overwrite a non-empty out_dir.
void WriteCategoryDataset(const CategoryDatasetOptions& options, const std::string& out_dir);

// A category dataset: the images and cameras plus the nerfedit extensions.
struct CategoryDataset {
  Dataset data;                 // LoadTransformsDataset's result
  std::string kind;             // "category" at the top level ("" when absent)
  std::vector<std::string> landmark_names;
  at::Tensor latent_index;      // [N] i64
  at::Tensor landmarks;         // [N,5,2] f32 pixel coordinates, divided by the downscale factor; undefined when the
                                // frames carry none
  at::Tensor masks;             // [N,H,W] f32 in [0,1], box-filtered like the images; undefined without masks
  int64_t num_latents = 0;      // max latent_index + 1
};

// Reads a transforms file (or a directory's transforms.json / transforms_<split>.json) with LoadTransformsDataset
// and its per-frame nerfedit extensions. Every frame must carry "latent_index"; "landmarks" and "mask_file_path"
// must be on all frames or on none. Throws naming the file, the frame and the problem (a landmark list that is not
// 5 pairs of finite numbers, a negative latent index, a mask of the wrong size).
CategoryDataset LoadCategoryDataset(const std::string& path, const DatasetOptions& options = DatasetOptions());

}  // namespace nerfedit
