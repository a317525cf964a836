#include "app/viewer/edit_session.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/edit_support.h"
#include "app/viewer/viewer_server.h"
#include "methods/dff/dff_query.h"
#include "methods/dff/dff_method.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {
namespace fs = std::filesystem;

namespace {

constexpr const char* kNoSelection = "select something first (POST /api/select with \"text\" or \"click\")";
constexpr int64_t kDefaultViewWidth = 160;  // a text query without a view is measured in camera 0 at this width
constexpr int64_t kRecolorViews = 4;        // training views MeasureSelection averages the source colour over

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

double Coverage(const SelectionView& view) { return view.mask.to(torch::kFloat).mean().item<double>(); }

at::Tensor ToBytes(const at::Tensor& rgb) {
  return (rgb.clamp(0, 1) * 255).round().to(torch::kByte).contiguous();
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

struct SelectResult {
  std::string label;
  double coverage = 0;
  at::Tensor overlay;  // [H,W,3] f32, when asked for
  double render_ms = 0;
};

}  // namespace

struct EditSession::Impl {
  Impl(std::shared_ptr<NerfModel> model_in, std::string run_in)
      : model(std::move(model_in)),
        run_dir(std::move(run_in)),
        trained_field(model->field()),
        trained_grid_density(model->grid().density().defined() ? model->grid().density().clone() : at::Tensor()),
        trained_grid_occupied(model->grid().occupied().defined() ? model->grid().occupied().clone() : at::Tensor()) {}

  std::shared_ptr<NerfModel> model;
  const std::string run_dir;
  const FieldPtr trained_field;  // the field as loaded; the session's edits wrap it
  // The occupancy grid as loaded: undoing every edit restores it exactly (RebuildOccupancyGrid re-estimates a grid from the
  // field, which differs slightly from the one accumulated during training).
  const at::Tensor trained_grid_density, trained_grid_occupied;
  ViewerServer* server = nullptr;
  int64_t max_pixels = 0;        // the server's ViewerOptions::max_pixels
  std::vector<Camera> cameras;   // the model's training views (read once, before the server starts)

  // Render-thread state.
  std::optional<Selection> selection;
  EditList edits;
  std::unique_ptr<Teacher> teacher;  // loaded on the first text query (a CLIP model: seconds)

  template <typename T>
  T OnRenderThread(const std::string& client, int64_t sequence, std::function<T()> work) {
    auto future = server->RunOnRenderThread<T>(client, sequence, std::move(work));
    return AwaitRender(future);
  }

  const Teacher& GetTeacher() {
    if (!teacher) teacher = std::make_unique<Teacher>(LoadRunTeacher(run_dir));
    return *teacher;
  }

  // Publishes the trained field wrapped by the current edit list (the renderer reads model->field()).
  void ApplyCurrentEdits() {
    torch::NoGradGuard no_grad;
    if (edits.empty()) {
      model->set_field(trained_field);
      if (trained_grid_density.defined()) {
        model->grid().LoadState(trained_grid_density.clone(), trained_grid_occupied.clone());
      }
      return;
    }
    // The session never writes compose edits, so no other run needs loading.
    model->set_field(ApplyEdits(trained_field, edits, nullptr));
    model->RebuildOccupancyGrid();  // an edit can move content into cells the trained grid marked empty
  }

  ApiReply Select(const Json& body) {
    std::string text;
    std::vector<std::string> negatives;  // optional, with "text": the things the query must beat (as --negatives)
    Json click;
    const Json own_keys = WithoutKeys(body, {"pose", "camera", "width", "height", "fov_x_degrees", "intrinsics",
                                             "mode", "format", "quality", "client", "request"});
    BadRequestOnError([&] {
      JsonReader r(own_keys, "select request");  // keeps a reference: own_keys must outlive it
      r.Optional("text", &text).Optional("click", &click).Optional("negatives", &negatives);
      r.Finish();
      return 0;
    });
    if (text.empty() == click.is_null()) {
      throw ApiError(400, "give exactly one of \"text\" (e.g. \"red sphere\") or \"click\": {\"x\", \"y\"}");
    }
    if (!negatives.empty() && text.empty()) throw ApiError(400, "\"negatives\" go with a \"text\" query");
    const bool want_image = body.contains("format");
    Json view_body = WithoutKeys(body, {"text", "click", "negatives"});
    if (!HasView(view_body)) {
      if (!click.is_null()) throw ApiError(400, "a \"click\" needs the view it was made in (\"pose\" or \"camera\")");
      if (cameras.empty()) throw ApiError(400, "give the view (\"pose\", \"width\", \"height\"): the run has no cameras");
      const int64_t w = std::min<int64_t>(cameras.front().width, kDefaultViewWidth);
      view_body["camera"] = 0;
      view_body["width"] = w;
      view_body["height"] = std::max<int64_t>(1, std::llround(static_cast<double>(w) * cameras.front().height /
                                                              cameras.front().width));
    }
    ViewRequest view = ParseViewRequest(view_body, cameras, max_pixels);
    double x = 0, y = 0;
    if (!click.is_null()) {
      BadRequestOnError([&] {
        NE_CHECK(click.is_object(), "\"click\" must be {\"x\", \"y\"}, got ", click.dump());
        JsonReader r(click, "select request \"click\"");
        r.Required("x", &x).Required("y", &y);
        r.Finish();
        return 0;
      });
      if (!(x >= 0 && y >= 0 && x < view.camera.width && y < view.camera.height)) {
        throw ApiError(400, "\"click\" (" + Fixed(x, 1) + ", " + Fixed(y, 1) + ") is outside the " +
                                std::to_string(view.camera.width) + "x" + std::to_string(view.camera.height) + " view");
      }
    }
    SelectResult result = OnRenderThread<SelectResult>(view.client, view.sequence, [&, camera = view.camera]() {
      const double start = NowSeconds();
      Selection chosen = [&] {
        if (!text.empty()) {
          // Without "negatives": the query's canonical negatives (dff_query.h).
          return TextSelection(GetTeacher(), text, negatives);
        }
        return ClickSelection(*model, camera, x, y);
      }();
      SelectionView rendered = RenderSelection(*model, chosen, camera);
      selection = chosen;
      SelectResult out{chosen.label(), Coverage(rendered), {}, 0};
      if (want_image) out.overlay = SelectionOverlay(rendered);
      out.render_ms = (NowSeconds() - start) * 1e3;
      return out;
    });
    if (!want_image) {
      return ApiReply::Json({{"label", result.label},
                             {"coverage", result.coverage},
                             {"width", view.camera.width},
                             {"height", view.camera.height}});
    }
    ApiReply reply = ImageReply(result.overlay, view, result.render_ms);
    reply.headers.push_back({"X-Coverage", Fixed(result.coverage, 6)});
    return reply;
  }

  ApiReply ImageReply(const at::Tensor& rgb, const ViewRequest& view, double render_ms) {
    ApiReply reply;
    reply.body = EncodeImage(ToBytes(rgb), view.format, view.quality);
    reply.content_type = ContentType(view.format);
    reply.headers = {{"X-Render-Ms", Fixed(render_ms, 2)},
                     {"X-Resolution", std::to_string(view.camera.width) + "x" + std::to_string(view.camera.height)},
                     {"X-Request", std::to_string(view.sequence)},
                     {"Cache-Control", "no-store"}};
    return reply;
  }

  ApiReply SelectRender(const Json& body) {
    ViewRequest view = ParseViewRequest(body, cameras, max_pixels);
    if (view.mode != ViewMode::kRgb) throw ApiError(400, "/api/select_render draws mode \"rgb\" only");
    SelectResult result = OnRenderThread<SelectResult>(view.client, view.sequence, [&, camera = view.camera]() {
      if (!selection) throw ApiError(409, kNoSelection);
      const double start = NowSeconds();
      SelectionView rendered = RenderSelection(*model, *selection, camera);
      return SelectResult{selection->label(), Coverage(rendered), SelectionOverlay(rendered),
                          (NowSeconds() - start) * 1e3};
    });
    ApiReply reply = ImageReply(result.overlay, view, result.render_ms);
    reply.headers.push_back({"X-Coverage", Fixed(result.coverage, 6)});
    return reply;
  }

  ApiReply Edit(const Json& body) {
    std::string op, color;
    std::vector<double> offset;
    BadRequestOnError([&] {
      JsonReader r(body, "edit request");
      r.Required("op", &op).Optional("color", &color).Optional("offset", &offset);
      r.Finish();
      return 0;
    });
    std::array<float, 3> target{}, shift{};
    if (op == "recolor") {
      if (color.empty()) throw ApiError(400, "op \"recolor\" needs \"color\": \"#rrggbb\"");
      target = BadRequestOnError([&] { return ParseHexColor(color, "\"color\""); });
    } else if (op == "translate") {
      if (offset.size() != 3) throw ApiError(400, "op \"translate\" needs \"offset\": [x, y, z]");
      for (int i = 0; i < 3; ++i) {
        if (!std::isfinite(offset[i])) throw ApiError(400, "\"offset\" has a non-finite value");
        shift[i] = static_cast<float>(offset[i]);
      }
    } else if (op != "delete" && op != "extract") {
      throw ApiError(400, "unknown op \"" + op + "\": expected delete, extract, recolor or translate");
    }
    if (op != "recolor" && !color.empty()) throw ApiError(400, "\"color\" belongs to op \"recolor\" only");
    if (op != "translate" && !offset.empty()) throw ApiError(400, "\"offset\" belongs to op \"translate\" only");

    return OnRenderThread<ApiReply>("", 0, [&]() {
      if (!selection) throw ApiError(409, kNoSelection);
      Json edit;
      if (op == "recolor") {
        try {
          edit = MakeRecolorEdit(*model, *selection, target, kRecolorViews);
        } catch (const Error& e) {  // e.g. the selection covers no pixel of the training views
          throw ApiError(409, e.what());
        }
      } else if (op == "translate") {
        edit = {{"op", "transform"}, {"selection", selection->ToJson()}, {"matrix", TranslationMatrix(shift)}};
      } else {
        edit = {{"op", op}, {"selection", selection->ToJson()}};
      }
      edits.Push(edit);
      try {
        ApplyCurrentEdits();
      } catch (...) {
        edits.Pop();
        ApplyCurrentEdits();
        throw;
      }
      return ApiReply::Json({{"op", op},
                             {"edits", edits.size()},
                             {"message", op + " \"" + selection->label() + "\" (" + std::to_string(edits.size()) +
                                             " edit" + (edits.size() == 1 ? "" : "s") + ")"}});
    });
  }

  ApiReply Undo(const Json& body) {
    if (!body.empty()) throw ApiError(400, "/api/undo takes an empty object, got " + body.dump().substr(0, 200));
    return OnRenderThread<ApiReply>("", 0, [&]() {
      if (edits.empty()) throw ApiError(409, "nothing to undo");
      Json undone = edits.Pop();
      ApplyCurrentEdits();
      const std::string op = undone.value("op", "edit");
      return ApiReply::Json({{"undone", op},
                             {"edits", edits.size()},
                             {"message", "undid " + op + " (" + std::to_string(edits.size()) + " left)"}});
    });
  }

  // The output folder: relative to the run's parent folder, or absolute inside it; no "..".
  fs::path SavePath(const std::string& out) const {
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

  ApiReply Save(const Json& body) {
    std::string out;
    BadRequestOnError([&] {
      JsonReader r(body, "save request");
      r.Required("out", &out);
      r.Finish();
      return 0;
    });
    const fs::path target = SavePath(out);
    return OnRenderThread<ApiReply>("", 0, [&]() {
      try {
        WriteEditedRun(run_dir, target.string(), edits.edits, model->device().is_cuda() ? "cuda" : "cpu");
      } catch (const Error& e) {
        throw ApiError(500, std::string("saving failed: ") + e.what());
      }
      return ApiReply::Json({{"saved", target.string()},
                             {"edits", edits.size()},
                             {"message", "saved " + target.string()}});
    });
  }
};

EditSession::EditSession(std::shared_ptr<NerfModel> model, std::string run_dir) {
  NE_CHECK(model != nullptr, "EditSession: run ", run_dir, " has no model");
  NE_CHECK(Supports(*model), "run ", run_dir, " has no feature field (field \"", model->config().field,
           "\"): train it with `nerfedit dff train` to select and edit in the viewer");
  impl_ = std::make_unique<Impl>(std::move(model), std::move(run_dir));
  impl_->cameras = impl_->model->TrainingCameras();
}

EditSession::~EditSession() = default;

bool EditSession::Supports(const NerfModel& model) { return model.config().field == "feature_field"; }

void EditSession::Register(ViewerServer& server, int64_t max_pixels) {
  NE_CHECK(impl_->server == nullptr, "EditSession::Register called twice");
  NE_CHECK(max_pixels > 0, "EditSession::Register: max_pixels is ", max_pixels, " expected > 0");
  Impl* s = impl_.get();
  s->server = &server;
  s->max_pixels = max_pixels;
  server.AddPostEndpoint("/api/select", [s](const Json& body) { return s->Select(body); });
  server.AddPostEndpoint("/api/select_render",
                         [s](const Json& body) { return s->SelectRender(body); });
  server.AddPostEndpoint("/api/edit", [s](const Json& body) { return s->Edit(body); });
  server.AddPostEndpoint("/api/undo", [s](const Json& body) { return s->Undo(body); });
  server.AddPostEndpoint("/api/save", [s](const Json& body) { return s->Save(body); });
}

void EditSession::RegisterUnavailable(ViewerServer& server) {
  for (const char* path : {"/api/select", "/api/select_render", "/api/edit", "/api/undo", "/api/save"}) {
    server.AddPostEndpoint(path, [](const Json&) -> ApiReply {
      throw ApiError(404, "this run has no feature field: train it with `nerfedit dff train` to select and edit");
    });
  }
}

}  // namespace nerfedit
