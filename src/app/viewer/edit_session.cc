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
#include "methods/dff/text_recolor.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/runtime.h"

namespace nerfedit {
namespace fs = std::filesystem;

namespace {

constexpr const char* kNoSelection = "select something first (POST /api/select with \"text\" or \"click\")";
constexpr int64_t kRecolorViews = 4;        // training views MeasureSelection averages the source colour over
constexpr int64_t kTextSteps = 80;          // text edits: fewer steps than the CLI's 150 (the request waits on them)

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

double Coverage(const SelectionView& view) { return view.mask.to(torch::kFloat).mean().item<double>(); }

at::Tensor ToBytes(const at::Tensor& rgb) {
  return (rgb.clamp(0, 1) * 255).round().to(torch::kByte).contiguous();
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
  std::optional<ClipBundle> clip;    // the teacher's CLIP with gradients, loaded on the first text edit

  template <typename T>
  T OnRenderThread(const std::string& client, int64_t sequence, std::function<T()> work) {
    auto future = server->RunOnRenderThread<T>(client, sequence, std::move(work));
    return AwaitRender(future);
  }

  const Teacher& GetTeacher() {
    if (!teacher) teacher = std::make_unique<Teacher>(LoadRunTeacher(run_dir));
    return *teacher;
  }

  // The text op's edit: an affine recolour of the selection fitted to `prompt` with the teacher's CLIP (loaded once).
  Json FitTextEdit(const std::string& prompt) {
    const std::string& dir = GetTeacher().options().dir;
    const std::vector<std::string> unknown = UnknownPromptWords(dir, prompt);
    if (!unknown.empty()) {
      throw ApiError(400, "the run's small CLIP was never trained on \"" + unknown.front() +
                              "\": name a colour and a shape it knows, e.g. \"blue sphere\"");
    }
    if (!clip) clip = LoadClipBundle(dir);
    TextRecolorResult fit;
    try {
      fit = FitTextRecolor(
          *model, *selection, *clip, prompt,
          TextRecolorOptions().steps(kTextSteps).negatives(DefaultNegatives(GetTeacher(), prompt)).progress(false));
    } catch (const Error& e) {  // e.g. the selection covers no pixel of the training views
      throw ApiError(409, e.what());
    }
    Json edit = {{"op", "recolor"}, {"selection", selection->ToJson()}};
    fit.recolor.AddToJson(&edit);
    return edit;
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
    const SelectRequest request = ParseSelectRequest(body, cameras, max_pixels);
    const std::string& text = request.text;
    const std::vector<std::string>& negatives = request.negatives;
    const ViewRequest& view = request.view;
    const bool want_image = request.want_image;
    const double x = request.click ? request.click->first : 0, y = request.click ? request.click->second : 0;
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
    const EditRequest request = ParseEditRequest(body);
    const std::string& op = request.op;
    const std::array<float, 3>& target = request.color;
    const std::array<float, 3>& shift = request.offset;
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
      } else if (op == "text") {
        edit = FitTextEdit(request.prompt);
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

  ApiReply Save(const Json& body) {
    const fs::path target = ParseSavePath(body, run_dir);
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
