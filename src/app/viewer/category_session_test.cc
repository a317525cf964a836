// The viewer's prompt box for category runs against a live loopback server over a REAL tiny clipnerf run (6 chairs
// of 24 px, trained for seconds as methods/clipnerf/clipnerf_mapper_test.cc does), a tiny chair CLIP written to disk
// as a Hugging Face folder, and mappers whose appearance offsets are made large (an edit visibly recolours): instance
// switches, stacked prompt edits and their reset, and the errors of bad requests and of a run without mappers.
#include "app/viewer/category_session.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "app/viewer/sphere_scene.h"
#include "app/viewer/viewer_server.h"
#include "app/viewer/viewer_test_util.h"
#include "data/category_scene.h"
#include "methods/clipnerf/clipnerf_category_clip.h"
#include "methods/clipnerf/clipnerf_mapper.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "methods/clipnerf/clipnerf_test_util.h"
#include "methods/method_registry.h"
#include "util/error.h"
#include "util/test_util.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string> kPrompts = {"a red chair", "a blue chair", "a chair with a tall back"};

// Made once per test process (~15 s on a busy 2-core machine): dir/run without mappers, dir/mapped with them (CLIP
// recorded: dir/clip), dir/lost with mappers whose recorded CLIP folder is gone.
struct TinyCategory {
  testing::TempDir dir;
  std::string run, mapped, lost, clip;
  int64_t clip_dim = 0;

  TinyCategory() : run(dir / "run"), mapped(dir / "mapped"), lost(dir / "lost"), clip(dir / "clip") {
    ScopedThreads one(1, 1);
    torch::manual_seed(0);
    WriteCategoryDataset(CategoryDatasetOptions().kind("chairs").instances(6).size(24).eval_views(0).seed(3),
                         dir / "chairs");
    // Enough steps for the codes (initialised within 0.01 of each other) to tell the instances apart in a picture.
    StartTraining("clipnerf", TinyClipnerfConfig(dir / "chairs", {{"batch_rays", 256}, {"lr", 1e-2}, {"steps", 60}}),
                  run, {true, false})
        ->Train();
    // A chair CLIP of one training step: its tokenizer knows the chair vocabulary, which is all an edit needs.
    ClipBundle bundle;
    TrainChairClip(ChairClipOptions()
                       .train_images(4)
                       .held_out_images(1)
                       .refresh_per_step(0)
                       .batch_size(4)
                       .steps(1)
                       .time_budget_seconds(0)
                       .image_size(16)
                       .patch_size(8)
                       .progress(false),
                   clip, &bundle);
    clip_dim = bundle.config.projection_dim;

    // Mappers whose appearance offsets are large, so that a colour prompt visibly recolours even untrained.
    ClipMappers mappers(ClipMappersOptions().clip_dim(clip_dim).shape_dim(8).appearance_dim(8));
    {
      torch::NoGradGuard no_grad;
      auto last = mappers->appearance_mapper->ptr<torch::nn::LinearImpl>(2);
      last->weight.normal_(0, 1);
      last->bias.normal_(0, 2);
    }
    fs::copy(run, mapped, fs::copy_options::recursive);
    fs::copy(run, lost, fs::copy_options::recursive);
    SaveMappers(mapped, mappers, {{"clip", clip}, {"prompts", kPrompts}});
    SaveMappers(lost, mappers, {{"clip", dir / "no_such_clip"}, {"prompts", kPrompts}});
  }
};

const TinyCategory& Category() {
  static TinyCategory category;
  return category;
}

struct LiveCategory {
  explicit LiveCategory(const std::string& run_dir) : LiveCategory(std::make_unique<CategorySession>(run_dir, "cpu")) {}
  explicit LiveCategory(std::unique_ptr<CategorySession> s)
      : session(std::move(s)), server(session->scene(), "chairs", ViewerOptions().port(0)) {
    session->Register(server);
    server.Start();
  }
  httplib::Result Post(const std::string& path, const Json& body) const {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(120, 0);
    return c.Post(path, body.dump(), "application/json");
  }
  Json Ok(const std::string& path, const Json& body) const {
    auto res = Post(path, body);
    EXPECT_TRUE(res);
    if (!res) return Json();
    EXPECT_EQ(res->status, 200) << path << " " << body.dump() << ": " << res->body;
    return Json::parse(res->body, nullptr, false);
  }
  // Training camera 0 as lossless pixels [H,W,3] u8.
  at::Tensor Render(const std::string& mode = "rgb") const {
    auto res = Post("/api/render", {{"camera", 0}, {"format", "png"}, {"mode", mode}});
    EXPECT_EQ(res->status, 200) << res->body;
    return DecodeRgb8(res->body);
  }
  std::unique_ptr<CategorySession> session;  // before the server: it must outlive the server's Stop()
  ViewerServer server;
};

TEST(CategorySession, ListsInstancesAndPromptsAndSwitchesInstances) {
  ScopedThreads one(1, 1);
  const TinyCategory& c = Category();
  EXPECT_TRUE(CategorySession::Supports(c.run));
  LiveCategory live(c.mapped);
  const Json info = Json::parse(httplib::Client("127.0.0.1", live.server.port()).Get("/api/info")->body);
  for (const char* endpoint : {"POST /api/category", "POST /api/category/instance", "POST /api/category/edit"}) {
    EXPECT_NE(std::find(info["endpoints"].begin(), info["endpoints"].end(), endpoint), info["endpoints"].end())
        << endpoint;
  }
  Json category = live.Ok("/api/category", Json::object());
  EXPECT_EQ(category["instances"], 6);
  EXPECT_EQ(category["instance"], -1);  // the run opens with the mean code
  EXPECT_EQ(category["prompts"], Json(kPrompts));
  EXPECT_EQ(category["has_mappers"], true);
  EXPECT_EQ(category["stacked"], 0);
  EXPECT_FALSE(category.contains("mappers_error"));

  const at::Tensor mean = live.Render();
  EXPECT_EQ(live.Ok("/api/category/instance", {{"instance", 0}}), Json({{"instance", 0}, {"stacked", 0}}));
  const at::Tensor first = live.Render();
  EXPECT_EQ(live.Ok("/api/category/instance", {{"instance", 5}})["instance"], 5);
  const at::Tensor last = live.Render();
  ASSERT_TRUE(first.defined() && last.defined() && mean.defined());
  EXPECT_FALSE(torch::equal(first, last)) << "instances 0 and 5 render the same picture";
  EXPECT_EQ(live.Ok("/api/category", Json::object())["instance"], 5);

  ExpectJsonError(live.Post("/api/category/instance", {{"instance", 6}}), 400,
                  "instance 6 is not one of the run's 6 instances (0..5)");
  ExpectJsonError(live.Post("/api/category/instance", {{"instance", -1}}), 400, "is not one of the run's 6 instances");
  ExpectJsonError(live.Post("/api/category/instance", {{"instance", "2"}}), 400, "needs \"instance\": an integer");
  ExpectJsonError(live.Post("/api/category/instance", {{"instance", 1}, {"code", 3}}), 400, "unknown field \"code\"");
  ExpectJsonError(live.Post("/api/category", {{"instance", 1}}), 400, "it takes {}");
  EXPECT_TRUE(torch::equal(live.Render(), last)) << "a refused request changed the picture";
}

TEST(CategorySession, PromptEditsStackRecolourAndReset) {
  ScopedThreads one(1, 1);
  LiveCategory live(Category().mapped);
  live.Ok("/api/category/instance", {{"instance", 2}});
  const at::Tensor before = live.Render(), before_opacity = live.Render("opacity");

  // The first edit loads the CLIP recorded in mappers.json from disk.
  Json reply = live.Ok("/api/category/edit", {{"prompt", "a red chair"}});
  EXPECT_EQ(reply["prompt"], "a red chair");
  EXPECT_EQ(reply["edits"], "appearance");
  EXPECT_GE(reply["edit_ms"].get<double>(), 0.0);
  EXPECT_EQ(reply["instance"], 2);
  EXPECT_EQ(reply["stacked"], 1);
  const at::Tensor red = live.Render();
  const double changed =
      (red.to(torch::kFloat) - before.to(torch::kFloat)).abs().amax(2).gt(8).to(torch::kFloat).mean().item<double>();
  EXPECT_GT(changed, 0.02) << "an appearance edit left the picture as it was";
  // An appearance edit moves z_a only: the silhouette stays exactly.
  EXPECT_TRUE(torch::equal(live.Render("opacity"), before_opacity));

  // Edits stack: the second starts from the first's code.
  EXPECT_EQ(live.Ok("/api/category/edit", {{"prompt", "a blue chair"}})["stacked"], 2);
  EXPECT_FALSE(torch::equal(live.Render(), red));
  const Json shape = live.Ok("/api/category/edit", {{"prompt", "a chair with a tall back"}});
  EXPECT_EQ(shape["edits"], "shape");
  EXPECT_EQ(shape["stacked"], 3);
  EXPECT_EQ(live.Ok("/api/category", Json::object())["stacked"], 3);

  // Reset: the instance's own code, the very same picture.
  EXPECT_EQ(live.Ok("/api/category/edit", {{"reset", true}}), Json({{"reset", true}, {"instance", 2}, {"stacked", 0}}));
  EXPECT_TRUE(torch::equal(live.Render(), before));
  // Switching instance also drops the edits.
  live.Ok("/api/category/edit", {{"prompt", "a red chair"}});
  EXPECT_EQ(live.Ok("/api/category/instance", {{"instance", 2}})["stacked"], 0);
  EXPECT_TRUE(torch::equal(live.Render(), before));

  // Prompts outside the chair vocabulary and bad bodies: 400 with the reason, nothing applied.
  ExpectJsonError(live.Post("/api/category/edit", {{"prompt", "a flying chair"}}), 400,
                  "edit prompt \"a flying chair\": expected exactly one colour");
  ExpectJsonError(live.Post("/api/category/edit", {{"prompt", "a red chair with a tall back"}}), 400,
                  "it says 1 colours and 1 shape phrases");
  ExpectJsonError(live.Post("/api/category/edit", {{"prompt", ""}}), 400, "needs \"prompt\"");
  ExpectJsonError(live.Post("/api/category/edit", Json::object()), 400, "needs \"prompt\"");
  ExpectJsonError(live.Post("/api/category/edit", {{"prompt", std::string(300, 'a')}}), 400, "longer than");
  ExpectJsonError(live.Post("/api/category/edit", {{"reset", false}}), 400, "{\"reset\": true}");
  ExpectJsonError(live.Post("/api/category/edit", {{"reset", true}, {"prompt", "a red chair"}}), 400,
                  "{\"prompt\": \"...\"} or {\"reset\": true}");
  ExpectJsonError(live.Post("/api/category/edit", {{"text", "a red chair"}}), 400, "unknown field \"text\"");
  EXPECT_EQ(live.Ok("/api/category", Json::object())["stacked"], 0);
  EXPECT_TRUE(torch::equal(live.Render(), before));
}

TEST(CategorySession, RunsWithoutMappersOrTheirClipExplainWhatIsMissing) {
  ScopedThreads one(1, 1);
  const TinyCategory& c = Category();
  {
    LiveCategory live(c.run);
    const Json category = live.Ok("/api/category", Json::object());
    EXPECT_EQ(category["has_mappers"], false);
    EXPECT_EQ(category["prompts"].size(), DefaultPromptLibrary().size());
    EXPECT_EQ(category["prompts"][0], DefaultPromptLibrary()[0].text);
    EXPECT_NE(category["mappers_error"].get<std::string>().find("nerfedit clipnerf mappers"), std::string::npos);
    ExpectJsonError(live.Post("/api/category/edit", {{"prompt", "a red chair"}}), 409,
                    "has no mappers trained (no mappers.json / mappers.pt): run `nerfedit clipnerf mappers");
    EXPECT_EQ(live.Ok("/api/category/instance", {{"instance", 1}})["instance"], 1);  // viewing still works
  }
  {
    LiveCategory live(c.lost);
    ExpectJsonError(live.Post("/api/category/edit", {{"prompt", "a red chair"}}), 409,
                    "cannot load the CLIP the mappers were trained with");
  }
  {
    // A CLIP given in place of the recorded one, of another embedding size than the mappers take.
    const ClipConfig config = TinyClipConfig();
    LiveCategory live(std::make_unique<CategorySession>(c.lost, "cpu", ClipBundle{config, ClipModel(config), {}}));
    ExpectJsonError(live.Post("/api/category/edit", {{"prompt", "a red chair"}}), 409,
                    "the mappers take " + std::to_string(c.clip_dim) + "-d CLIP embeddings but the CLIP gives 16");
  }
}

TEST(CategorySession, OtherRunsGet404FromTheSamePaths) {
  testing::TempDir tmp;
  std::ofstream(tmp / "run.json") << R"({"format_version": 2, "method": "lolnerf", "config": {}})";
  EXPECT_FALSE(CategorySession::Supports(tmp.path()));
  EXPECT_THROW(CategorySession::Supports(tmp / "missing"), Error);

  ViewerServer server(std::make_shared<SphereScene>(), "spheres", ViewerOptions().port(0));
  CategorySession::RegisterUnavailable(server);
  server.Start();
  httplib::Client client("127.0.0.1", server.port());
  for (const char* path : {"/api/category", "/api/category/instance", "/api/category/edit"}) {
    ExpectJsonError(client.Post(path, "{}", "application/json"), 404, "this run is not a category (clipnerf) run");
  }
}

}  // namespace
}  // namespace nerfedit
