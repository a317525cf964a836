// Posed-image datasets in the Blender / nerfstudio / instant-ngp transforms.json family.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "render/camera.h"

namespace nerfedit {

struct DatasetOptions {
  TORCH_ARG(int, downscale) = 1;                                         // --downscale N: box filter by N
  TORCH_ARG(std::vector<float>, background) = std::vector<float>{1, 1, 1};  // RGBA is composited on this
  TORCH_ARG(std::string, split) = "train";  // a directory without transforms.json is read as transforms_<split>.json
};

struct Dataset {
  std::vector<Camera> cameras;           // one per image, already downscaled
  at::Tensor images;                     // [N,H,W,3] f32 in [0,1], composited on background
  at::Tensor alphas;                     // [N,H,W] f32, undefined when the images have no alpha channel
  at::Tensor depths;                     // [N,H,W] f32 distance along the unit ray, 0 where nothing is hit; undefined
                                         // unless the frames carry depth_file_path
  at::Tensor labels;                     // [N,H,W] i32 object ids; undefined unless frames carry label_file_path
  at::Tensor aabb;                       // [2,3] f32 scene bounds (min row, max row)
  std::vector<float> background;         // the colour images were composited on
  std::vector<std::string> image_paths;  // resolved paths
  std::vector<int64_t> frame_indices;    // index of each image in the transforms file's frame list
  std::string source;                    // the transforms file read

  int64_t size() const { return static_cast<int64_t>(cameras.size()); }
  int64_t height() const { return images.defined() ? images.size(1) : 0; }
  int64_t width() const { return images.defined() ? images.size(2) : 0; }
  Dataset Subset(const std::vector<int64_t>& which) const;  // rows `which` of every per-image member
};

// `path` is a transforms JSON file or a directory holding transforms.json or else transforms_<split>.json.
// Reads intrinsics from camera_angle_x[/y] or fl_x/fl_y/cx/cy (+ w/h), per frame overriding top level; frames'
// transform_matrix (world_from_cam, OpenGL axes); file_path relative to the JSON's folder, with or without extension.
// nerfedit extensions: top-level "aabb" [[min],[max]]; per frame depth_file_path (.npy f32 [H,W], ray distance) and
// label_file_path (.png ids or .npy i32 [H,W]). Depth/labels are downscaled by taking each block's centre pixel.
// Keys of the ecosystem that do not change the result (e.g. Blender's "rotation", colmap ids) are ignored; lens
// distortion and non-pinhole camera models are rejected. Throws naming the file and the problem on any bad input.
Dataset LoadTransformsDataset(const std::string& path, const DatasetOptions& options = DatasetOptions());

// Train/test split used by every benchmark: test = frames whose frame index % every == 0, train = the rest.
void SplitEveryNth(const Dataset& all, int every, Dataset* train, Dataset* test);

}  // namespace nerfedit
