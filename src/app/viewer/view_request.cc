// Parsing and checking a POST body and the view of a POST /api/render body.
#include "app/viewer/view_request.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "util/error.h"
#include "util/json_reader.h"
#include "util/math_constants.h"

namespace nerfedit {
namespace {

constexpr int64_t kMaxSide = 16384;

int64_t IntegerField(const Json& value, const char* key) {
  if (!value.is_number_integer()) throw ApiError(400, std::string("\"") + key + "\" must be an integer, got " + value.dump());
  return value.get<int64_t>();
}

double FiniteNumber(const Json& value, const std::string& what) {
  if (!value.is_number()) throw ApiError(400, what + " must be a number, got " + value.dump());
  double v = value.get<double>();
  if (!std::isfinite(v)) throw ApiError(400, what + " is not finite: " + value.dump());
  return v;
}

at::Tensor ParsePose(const Json& pose) {
  const std::string shape_error = "\"pose\" must be a 4x4 array of numbers (world_from_cam, OpenGL axes), got ";
  if (!pose.is_array() || pose.size() != 4) throw ApiError(400, shape_error + pose.dump().substr(0, 200));
  std::vector<float> values;
  for (size_t r = 0; r < 4; ++r) {
    if (!pose[r].is_array() || pose[r].size() != 4) throw ApiError(400, shape_error + pose.dump().substr(0, 200));
    for (size_t c = 0; c < 4; ++c) {
      values.push_back(static_cast<float>(
          FiniteNumber(pose[r][c], "\"pose\"[" + std::to_string(r) + "][" + std::to_string(c) + "]")));
    }
  }
  auto m = at::tensor(values).reshape({4, 4});
  auto last_row = m[3];
  if (!at::allclose(last_row, at::tensor({0.f, 0.f, 0.f, 1.f}), 0, 1e-4)) {
    throw ApiError(400, "\"pose\" last row must be [0,0,0,1], got " + pose[3].dump());
  }
  double det = at::det(m.slice(0, 0, 3).slice(1, 0, 3).to(at::kDouble)).item<double>();
  if (std::abs(det) < 1e-6) throw ApiError(400, "\"pose\" rotation is singular (det " + std::to_string(det) + ")");
  return m;
}

// The training camera at a new resolution: scaled by the width ratio and centred vertically, so the pixels stay
// square when the requested aspect differs from the camera's.
Camera Resized(const Camera& camera, int64_t width, int64_t height) {
  Camera c = camera;
  const double s = static_cast<double>(width) / static_cast<double>(camera.width);
  c.width = width;
  c.height = height;
  c.fx = camera.fx * s;
  c.fy = camera.fy * s;
  c.cx = camera.cx * s;
  c.cy = camera.cy * s + 0.5 * (static_cast<double>(height) - static_cast<double>(camera.height) * s);
  c.world_from_cam = camera.world_from_cam.clone();
  return c;
}

}  // namespace

Json ParseApiBody(const std::string& text) {
  Json body;
  try {
    body = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    throw ApiError(400, std::string("malformed JSON: ") + e.what());
  }
  if (!body.is_object()) {
    throw ApiError(400, "request body must be a JSON object, got " + std::string(body.type_name()));
  }
  return body;
}

ViewRequest ParseViewRequest(const Json& body, const std::vector<Camera>& training, int64_t max_pixels) {
  if (!body.is_object()) throw ApiError(400, "request body must be a JSON object, got " + std::string(body.type_name()));
  Json pose, camera_index, width, height, fov, intrinsics, request;
  std::string mode = "rgb", format = "jpeg";
  ViewRequest out;
  try {
    JsonReader r(body, "render request");
    r.Optional("pose", &pose).Optional("camera", &camera_index).Optional("width", &width).Optional("height", &height);
    r.Optional("fov_x_degrees", &fov).Optional("intrinsics", &intrinsics).Optional("mode", &mode);
    r.Optional("format", &format).Optional("quality", &out.quality).Optional("client", &out.client);
    r.Optional("request", &request);
    r.Finish();
    out.mode = ParseViewMode(mode);
    out.format = ParseImageFormat(format);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  if (out.quality < 1 || out.quality > 100) {
    throw ApiError(400, "\"quality\" is " + std::to_string(out.quality) + ", expected 1..100");
  }
  if (out.client.size() > 64) throw ApiError(400, "\"client\" is longer than 64 characters");
  if (!request.is_null()) out.sequence = IntegerField(request, "request");

  if (pose.is_null() == camera_index.is_null()) {
    throw ApiError(400, "give exactly one of \"pose\" (4x4 world_from_cam) or \"camera\" (training camera index)");
  }
  if (width.is_null() != height.is_null()) throw ApiError(400, "give both \"width\" and \"height\", or neither");

  std::optional<Camera> base;  // the training camera, when the view is one
  if (!camera_index.is_null()) {
    int64_t index = IntegerField(camera_index, "camera");
    if (index < 0 || index >= static_cast<int64_t>(training.size())) {
      throw ApiError(404, "camera " + std::to_string(index) + " does not exist: the run has " +
                              std::to_string(training.size()) + " training cameras");
    }
    base = training[index];
  }
  int64_t w = 0, h = 0;
  if (!width.is_null()) {
    w = IntegerField(width, "width");
    h = IntegerField(height, "height");
  } else if (base) {
    w = base->width;
    h = base->height;
  } else {
    throw ApiError(400, "a \"pose\" view needs \"width\" and \"height\"");
  }
  if (w < 1 || h < 1 || w > kMaxSide || h > kMaxSide) {
    throw ApiError(400, "resolution " + std::to_string(w) + "x" + std::to_string(h) + " is out of range 1.." +
                            std::to_string(kMaxSide) + " per side");
  }
  if (w * h > max_pixels) {
    throw ApiError(413, "resolution " + std::to_string(w) + "x" + std::to_string(h) + " is " + std::to_string(w * h) +
                            " pixels, over the server's max_pixels " + std::to_string(max_pixels));
  }
  if (!fov.is_null() && !intrinsics.is_null()) {
    throw ApiError(400, "give \"fov_x_degrees\" or \"intrinsics\", not both");
  }

  Camera camera;
  if (base) {
    camera = Resized(*base, w, h);
  } else {
    camera.width = w;
    camera.height = h;
    camera.world_from_cam = ParsePose(pose);
    fov = fov.is_null() && intrinsics.is_null() ? Json(50.0) : fov;  // a usual photographic field of view
  }
  if (!fov.is_null()) {
    double degrees = FiniteNumber(fov, "\"fov_x_degrees\"");
    if (degrees <= 0 || degrees >= 180) throw ApiError(400, "\"fov_x_degrees\" is " + fov.dump() + ", expected (0,180)");
    camera.fx = camera.fy = 0.5 * static_cast<double>(w) / std::tan(0.5 * degrees * kPi / 180.0);
    camera.cx = 0.5 * static_cast<double>(w);
    camera.cy = 0.5 * static_cast<double>(h);
  } else if (!intrinsics.is_null()) {
    if (!intrinsics.is_object()) throw ApiError(400, "\"intrinsics\" must be {\"fl_x\",\"fl_y\",\"cx\",\"cy\"}");
    try {
      JsonReader r(intrinsics, "render request \"intrinsics\"");
      r.Required("fl_x", &camera.fx).Required("fl_y", &camera.fy).Required("cx", &camera.cx).Required("cy", &camera.cy);
      r.Finish();
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    for (double v : {camera.fx, camera.fy, camera.cx, camera.cy}) {
      if (!std::isfinite(v)) throw ApiError(400, "\"intrinsics\" has a non-finite value: " + intrinsics.dump());
    }
    if (camera.fx <= 0 || camera.fy <= 0) throw ApiError(400, "\"intrinsics\" focal lengths must be > 0: " + intrinsics.dump());
  }
  out.camera = camera;
  return out;
}

}  // namespace nerfedit
