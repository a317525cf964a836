#include "app/viewer/category_session.h"

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "app/viewer/viewer_server.h"
#include "engine/run_folder.h"
#include "methods/clipnerf/clipnerf_category_clip.h"
#include "methods/clipnerf/clipnerf_mapper.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kNotCategory =
    "this run is not a category (clipnerf) run: the prompt box edits instances of `nerfedit clipnerf train` runs";

// Refuses any key of `body` outside `allowed` (the API's bodies are strict, as the configs are).
void CheckKeys(const Json& body, const std::string& path, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string names;
    for (const auto& a : allowed) names += (names.empty() ? "\"" : ", \"") + a + "\"";
    throw ApiError(400, path + ": unknown field \"" + key.substr(0, 100) + "\"" +
                            (allowed.empty() ? " (it takes {})" : " (it takes " + names + ")"));
  }
}

}  // namespace

struct CategorySession::Impl {
  Impl(std::string run_in, const std::string& device)
      : run_dir(std::move(run_in)), info(ReadClipnerfRun(run_dir)), model(LoadClipnerfModel(info, device)) {
    // The instance the run opens with, as LoadClipnerfRun chooses it.
    if (info.config.render_instance >= 0) {
      NE_CHECK(info.config.render_instance < info.num_latents, run_dir, ": render_instance ",
               info.config.render_instance, " is not one of the run's ", info.num_latents, " instances");
      instance = info.config.render_instance;
      base_code = model->codes()->codes[instance].detach().cpu();
    } else {
      base_code = model->codes()->Mean().cpu();
    }
    code = base_code;
    initial = std::make_shared<ClipnerfInstance>(model, code, info.cameras);

    // Mappers are optional: a run without them is still shown, and an edit says how to train them.
    try {
      mappers = LoadMappers(run_dir, *model);
    } catch (const Error& e) {
      mappers_error = e.what();
    }
    if (mappers) {
      const Json& listed = mappers->info.contains("prompts") ? mappers->info["prompts"] : Json();
      if (listed.is_array()) {
        for (const auto& p : listed)
          if (p.is_string()) prompts.push_back(p.get<std::string>());
      }
      const std::string recorded = mappers->info.value("clip", "");
      clip_dir = recorded == DefaultChairClipDir() ? "" : recorded;  // "": the cached chair CLIP
    }
    if (prompts.empty()) {
      for (const auto& p : DefaultPromptLibrary()) prompts.push_back(p.text);
    }
  }

  const std::string run_dir;
  const ClipnerfRunInfo info;
  const std::shared_ptr<ClipnerfModel> model;
  std::shared_ptr<ClipnerfInstance> initial;
  std::optional<LoadedMappers> mappers;
  std::string mappers_error;         // why there are none
  std::vector<std::string> prompts;  // what the page offers
  std::string clip_dir;              // the mappers' CLIP; "" the cached chair CLIP
  ViewerServer* server = nullptr;

  // Render-thread state.
  int64_t instance = -1;           // the shown row of the code table; -1: the mean code
  at::Tensor base_code, code;      // [C] f32 on the CPU: the instance's own code, and the shown (edited) one
  int64_t stacked = 0;             // edits applied since base_code
  std::optional<ClipBundle> clip;  // loaded on the first edit, or given

  template <typename T>
  T OnRenderThread(std::function<T()> work) {
    auto future = server->RunOnRenderThread<T>("", 0, std::move(work));
    return AwaitRender(future);
  }

  void Publish() { server->SetScene(std::make_shared<ClipnerfInstance>(model, code, info.cameras)); }

  ClipBundle& Clip() {
    if (clip) return *clip;
    const std::string shown = clip_dir.empty() ? DefaultChairClipDir() : clip_dir;
    // Training the chair CLIP takes minutes: not inside a request.
    if (clip_dir.empty() && !IsCurrentChairClip(shown)) {
      throw ApiError(409, "the mappers' CLIP (the chair CLIP, " + shown +
                              ") is not there: train it once with `nerfedit clipnerf clip`");
    }
    try {
      clip = LoadOrTrainEditClip(clip_dir, /*progress=*/false);
    } catch (const Error& e) {
      throw ApiError(409, "cannot load the CLIP the mappers were trained with (" + shown + "): " + e.what());
    }
    return *clip;
  }

  ApiReply Describe(const Json& body) {
    CheckKeys(body, "/api/category", {});
    return OnRenderThread<ApiReply>([&] {
      Json reply = {{"instances", info.num_latents},
                    {"instance", instance},
                    {"prompts", prompts},
                    {"has_mappers", mappers.has_value()},
                    {"stacked", stacked}};
      if (!mappers) reply["mappers_error"] = mappers_error;
      return ApiReply::Json(reply);
    });
  }

  ApiReply ShowInstance(const Json& body) {
    CheckKeys(body, "/api/category/instance", {"instance"});
    if (!body.contains("instance") || !body["instance"].is_number_integer()) {
      throw ApiError(400, "/api/category/instance needs \"instance\": an integer row of the code table");
    }
    const Json& value = body["instance"];
    const bool in_range = value.is_number_unsigned()
                              ? value.get<uint64_t>() < static_cast<uint64_t>(info.num_latents)
                              : value.get<int64_t>() >= 0 && value.get<int64_t>() < info.num_latents;
    if (!in_range) {
      throw ApiError(400, "instance " + value.dump() + " is not one of the run's " + std::to_string(info.num_latents) +
                              " instances (0.." + std::to_string(info.num_latents - 1) + ")");
    }
    const int64_t k = value.get<int64_t>();
    return OnRenderThread<ApiReply>([&] {
      instance = k;
      base_code = model->codes()->codes[k].detach().cpu();
      code = base_code;
      stacked = 0;
      Publish();
      return ApiReply::Json({{"instance", instance}, {"stacked", stacked}});
    });
  }

  ApiReply Edit(const Json& body) {
    CheckKeys(body, "/api/category/edit", {"prompt", "reset"});
    if (body.contains("reset")) {
      if (!body["reset"].is_boolean() || !body["reset"].get<bool>() || body.contains("prompt")) {
        throw ApiError(400, "/api/category/edit takes {\"prompt\": \"...\"} or {\"reset\": true}");
      }
      return OnRenderThread<ApiReply>([&] {
        code = base_code;
        stacked = 0;
        Publish();
        return ApiReply::Json({{"reset", true}, {"instance", instance}, {"stacked", stacked}});
      });
    }
    if (!body.contains("prompt") || !body["prompt"].is_string() || body["prompt"].get<std::string>().empty()) {
      throw ApiError(400, "/api/category/edit needs \"prompt\": a text such as \"a red chair\" (or \"reset\": true)");
    }
    const std::string text = body["prompt"].get<std::string>();
    if (text.size() > kMaxPromptChars) {
      throw ApiError(400, "\"prompt\" is longer than " + std::to_string(kMaxPromptChars) + " characters");
    }
    if (!mappers) throw ApiError(409, mappers_error);
    EditPrompt prompt;
    try {
      prompt = ParseEditPrompt(text);
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    return OnRenderThread<ApiReply>([&] {
      ClipBundle& c = Clip();
      if (c.config.projection_dim != mappers->mappers->options.clip_dim()) {
        throw ApiError(409, "the mappers take " + std::to_string(mappers->mappers->options.clip_dim()) +
                                "-d CLIP embeddings but the CLIP gives " + std::to_string(c.config.projection_dim) +
                                ": retrain them with `nerfedit clipnerf mappers " + run_dir + "`");
      }
      // Timed as the CLI's edit_ms: the text tower and the mapper, not the render.
      torch::NoGradGuard no_grad;
      const double start = NowSeconds();
      const at::Tensor e = EncodePrompts(c, {text});
      const at::Tensor edited = ApplyMappers(*model, mappers->mappers, code.unsqueeze(0).to(model->device()),
                                             e.to(model->device()), {prompt.shape})[0];
      const double edit_ms = 1e3 * (NowSeconds() - start);
      code = edited.detach().to(at::kCPU, at::kFloat);
      ++stacked;
      Publish();
      return ApiReply::Json({{"prompt", text},
                             {"edits", prompt.shape ? "shape" : "appearance"},
                             {"edit_ms", edit_ms},
                             {"instance", instance},
                             {"stacked", stacked}});
    });
  }
};

CategorySession::CategorySession(std::string run_dir, const std::string& device)
    : impl_(std::make_unique<Impl>(std::move(run_dir), device)) {}

CategorySession::CategorySession(std::string run_dir, const std::string& device, ClipBundle clip)
    : CategorySession(std::move(run_dir), device) {
  impl_->clip = std::move(clip);
  impl_->clip->model->eval();
}

CategorySession::~CategorySession() = default;

bool CategorySession::Supports(const std::string& run_dir) { return ReadRunJson(run_dir).method == "clipnerf"; }

std::shared_ptr<Renderable> CategorySession::scene() const { return impl_->initial; }

void CategorySession::Register(ViewerServer& server) {
  NE_CHECK(impl_->server == nullptr, "CategorySession::Register called twice");
  Impl* s = impl_.get();
  s->server = &server;
  server.AddPostEndpoint("/api/category", [s](const Json& body) { return s->Describe(body); });
  server.AddPostEndpoint("/api/category/instance", [s](const Json& body) { return s->ShowInstance(body); });
  server.AddPostEndpoint("/api/category/edit", [s](const Json& body) { return s->Edit(body); });
}

void CategorySession::RegisterUnavailable(ViewerServer& server) {
  for (const char* path : {"/api/category", "/api/category/instance", "/api/category/edit"}) {
    server.AddPostEndpoint(path, [](const Json&) -> ApiReply { throw ApiError(404, kNotCategory); });
  }
}

}  // namespace nerfedit
