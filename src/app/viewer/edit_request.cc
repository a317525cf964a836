// Parsing the bodies of the edit panel's endpoints (/api/select, /api/edit, /api/save; edit_session.h), apart from
// the session so that they can be fuzzed without a scene.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>

#include "app/viewer/view_request.h"
#include "edit/edit_ops.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kDefaultViewWidth = 160;  // a text query without a view is measured in camera 0 at this width

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

// The body minus the keys an endpoint reads itself, so ParseViewRequest (strict) sees only view fields.
Json WithoutKeys(const Json& body, std::initializer_list<const char*> keys) {
  Json rest = body;
  for (const char* key : keys) rest.erase(key);
  return rest;
}

bool HasView(const Json& body) { return body.contains("pose") || body.contains("camera"); }

// Throws ApiError(400) for nerfedit::Error raised while reading the request.
template <typename F>
auto BadRequestOnError(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
}

}  // namespace

SelectRequest ParseSelectRequest(const Json& body, const std::vector<Camera>& cameras, int64_t max_pixels) {
  // The server only hands over objects (ParseApiBody); erase() below would throw nlohmann's type_error on others.
  if (!body.is_object())
    throw ApiError(400, "request body must be a JSON object, got " + std::string(body.type_name()));
  SelectRequest out;
  Json click;
  const Json own_keys = WithoutKeys(body, {"pose", "camera", "width", "height", "fov_x_degrees", "intrinsics", "mode",
                                           "format", "quality", "client", "request"});
  BadRequestOnError([&] {
    JsonReader r(own_keys, "select request");  // keeps a reference: own_keys must outlive it
    r.Optional("text", &out.text).Optional("click", &click).Optional("negatives", &out.negatives);
    r.Finish();
    return 0;
  });
  if (out.text.empty() == click.is_null()) {
    throw ApiError(400, "give exactly one of \"text\" (e.g. \"red sphere\") or \"click\": {\"x\", \"y\"}");
  }
  if (!out.negatives.empty() && out.text.empty()) throw ApiError(400, "\"negatives\" go with a \"text\" query");
  out.want_image = body.contains("format");
  Json view_body = WithoutKeys(body, {"text", "click", "negatives"});
  if (!HasView(view_body)) {
    if (!click.is_null()) throw ApiError(400, "a \"click\" needs the view it was made in (\"pose\" or \"camera\")");
    if (cameras.empty()) throw ApiError(400, "give the view (\"pose\", \"width\", \"height\"): the run has no cameras");
    const int64_t w = std::min<int64_t>(cameras.front().width, kDefaultViewWidth);
    view_body["camera"] = 0;
    view_body["width"] = w;
    view_body["height"] =
        std::max<int64_t>(1, std::llround(static_cast<double>(w) * cameras.front().height / cameras.front().width));
  }
  out.view = ParseViewRequest(view_body, cameras, max_pixels);
  if (!click.is_null()) {
    double x = 0, y = 0;
    BadRequestOnError([&] {
      NE_CHECK(click.is_object(), "\"click\" must be {\"x\", \"y\"}, got ", click.dump());
      JsonReader r(click, "select request \"click\"");
      r.Required("x", &x).Required("y", &y);
      r.Finish();
      return 0;
    });
    if (!(x >= 0 && y >= 0 && x < out.view.camera.width && y < out.view.camera.height)) {
      throw ApiError(400, "\"click\" (" + Fixed(x, 1) + ", " + Fixed(y, 1) + ") is outside the " +
                              std::to_string(out.view.camera.width) + "x" + std::to_string(out.view.camera.height) +
                              " view");
    }
    out.click = std::make_pair(x, y);
  }
  return out;
}

EditRequest ParseEditRequest(const Json& body) {
  EditRequest out;
  std::string color;
  std::vector<double> offset;
  BadRequestOnError([&] {
    JsonReader r(body, "edit request");
    r.Required("op", &out.op).Optional("color", &color).Optional("offset", &offset).Optional("prompt", &out.prompt);
    r.Finish();
    return 0;
  });
  const std::string& op = out.op;
  if (op == "recolor") {
    if (color.empty()) throw ApiError(400, "op \"recolor\" needs \"color\": \"#rrggbb\"");
    out.color = BadRequestOnError([&] { return ParseHexColor(color, "\"color\""); });
  } else if (op == "translate") {
    if (offset.size() != 3) throw ApiError(400, "op \"translate\" needs \"offset\": [x, y, z]");
    for (int i = 0; i < 3; ++i) {
      if (!std::isfinite(offset[i])) throw ApiError(400, "\"offset\" has a non-finite value");
      out.offset[i] = static_cast<float>(offset[i]);
    }
  } else if (op == "text") {
    if (out.prompt.find_first_not_of(" \t") == std::string::npos) {
      throw ApiError(400, "op \"text\" needs \"prompt\", e.g. \"blue sphere\"");
    }
    if (out.prompt.size() > kMaxPromptChars) {
      throw ApiError(400, "\"prompt\" is longer than " + std::to_string(kMaxPromptChars) + " characters");
    }
  } else if (op != "delete" && op != "extract") {
    throw ApiError(400, "unknown op \"" + op + "\": expected delete, extract, recolor, translate or text");
  }
  if (op != "text" && !out.prompt.empty()) throw ApiError(400, "\"prompt\" belongs to op \"text\" only");
  if (op != "recolor" && !color.empty()) throw ApiError(400, "\"color\" belongs to op \"recolor\" only");
  if (op != "translate" && !offset.empty()) throw ApiError(400, "\"offset\" belongs to op \"translate\" only");
  return out;
}

fs::path ParseSavePath(const Json& body, const std::string& run_dir) {
  std::string out;
  BadRequestOnError([&] {
    JsonReader r(body, "save request");
    r.Required("out", &out);
    r.Finish();
    return 0;
  });
  if (out.empty()) throw ApiError(400, "/api/save needs \"out\": the folder to write the edited run to");
  if (out.find('\0') != std::string::npos) throw ApiError(400, "\"out\" has a NUL character");
  const fs::path requested(out);
  for (const auto& part : requested) {
    if (part == "..") throw ApiError(403, "\"out\" must not contain \"..\": " + out);
  }
  const fs::path parent = fs::weakly_canonical(fs::absolute(run_dir)).parent_path();
  const fs::path target = fs::weakly_canonical(requested.is_absolute() ? requested : parent / requested);
  const std::string inside = parent.string() + "/";
  if (target.string().compare(0, inside.size(), inside) != 0) {
    throw ApiError(403, "\"out\" " + out + " is outside the run's parent folder " + parent.string());
  }
  if (target == fs::weakly_canonical(fs::absolute(run_dir))) throw ApiError(409, "\"out\" is the run itself");
  std::error_code error;
  if (fs::exists(target, error) && !(fs::is_directory(target, error) && fs::is_empty(target, error))) {
    throw ApiError(409, "\"out\" " + target.string() + " already exists and is not empty");
  }
  return target;
}

}  // namespace nerfedit
