// The viewer's select-and-edit endpoints against a live loopback server over a REAL tiny dff run (tiny_dff_run.h):
// select by text and click, delete / recolour / move, undo, save, and the errors of bad requests.
#include "app/viewer/edit_session.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <filesystem>

#include "app/viewer/sphere_scene.h"
#include "app/viewer/tiny_dff_run.h"
#include "app/viewer/viewer_server.h"
#include "app/viewer/viewer_test_util.h"
#include "data/procedural_scene.h"
#include "edit/edit_list.h"
#include "methods/dff/dff_method.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

Json Ok(const httplib::Result& res) {
  EXPECT_TRUE(res);
  if (!res) return Json();
  EXPECT_EQ(res->status, 200) << res->body;
  return Json::parse(res->body, nullptr, false);
}

at::Tensor RenderPng(const LiveEdit& live, int camera) {
  auto res = live.Post("/api/render", {{"camera", camera}, {"format", "png"}});
  EXPECT_EQ(res->status, 200) << res->body;
  return DecodeUnitRgb(res->body);
}

TEST(EditSession, SelectDeleteUndoRecolorMoveAndSave) {
  const std::string& run = TinyRun();
  LiveEdit live(run);
  Json info = Ok(httplib::Client("127.0.0.1", live.server.port()).Get("/api/info"));
  EXPECT_EQ(info["has_features"], true);
  for (const char* endpoint : {"POST /api/select", "POST /api/select_render", "POST /api/edit", "POST /api/undo",
                               "POST /api/save"}) {
    EXPECT_NE(std::find(info["endpoints"].begin(), info["endpoints"].end(), endpoint), info["endpoints"].end())
        << endpoint;
  }
  ExpectJsonError(live.Post("/api/edit", {{"op", "delete"}}), 409, "select something first");
  ExpectJsonError(live.Post("/api/select_render", {{"camera", 0}}), 409, "select something first");
  ExpectJsonError(live.Post("/api/undo", Json::object()), 409, "nothing to undo");

  // Text selection: the training view that shows the most of the red sphere. Each view's overlay against its plain
  // render gives the selected pixels, and the procedural scene's exact labels (the tiny run's scene is DefaultScene())
  // say which object each pixel shows.
  const ProceduralScene scene = DefaultScene();
  const int sphere = scene.FindObject("red sphere");
  std::vector<double> object_pixels(scene.objects.size()), object_selected(scene.objects.size());
  int best = 0;
  double best_coverage = -1;
  for (int camera = 0; camera < 8; ++camera) {
    Json reply = Ok(live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", camera}}));
    EXPECT_EQ(reply["label"], "red sphere");
    EXPECT_EQ(reply["width"], 48);
    if (reply["coverage"].get<double>() > best_coverage) {
      best_coverage = reply["coverage"].get<double>();
      best = camera;
    }
    auto picture = live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", camera}, {"format", "png"}});
    ASSERT_EQ(picture->status, 200) << picture->body;
    const at::Tensor selected = (DecodeUnitRgb(picture->body) - RenderPng(live, camera)).abs().amax(2) > 0.1f;
    const at::Tensor labels = RenderProcedural(scene, live.model->TrainingCameras()[camera], 1).labels;
    ASSERT_EQ(labels.sizes(), selected.sizes());
    for (size_t k = 0; k < scene.objects.size(); ++k) {
      const at::Tensor object = labels.eq(static_cast<int>(2 + k));
      object_pixels[k] += object.sum().item<double>();
      object_selected[k] += object.logical_and(selected).sum().item<double>();
    }
  }
  EXPECT_GT(best_coverage, 0.01);
  EXPECT_LT(best_coverage, 0.6);  // the sphere, not the whole picture
  // Which object: the share of each object's pixels selected over the 8 views. Measured on two tiny runs
  // (2026-11-30): the red sphere 0.99; the purple torus 0.47 and the blue box 0.31 (the tiny run's coarse features
  // bleed onto the sphere's neighbours in some views), the cylinder and the cone <= 0.02. Selecting nothing, the
  // wrong object or everything alike fails one of the two checks.
  for (size_t k = 0; k < scene.objects.size(); ++k) {
    ASSERT_GT(object_pixels[k], 0) << scene.objects[k].name << " is visible in the first 8 views";
  }
  const double sphere_share = object_selected[sphere] / object_pixels[sphere];
  EXPECT_GT(sphere_share, 0.8) << "share of the red sphere's pixels selected";
  for (size_t k = 0; k < scene.objects.size(); ++k) {
    if (static_cast<int>(k) == sphere) continue;
    EXPECT_LT(object_selected[k] / object_pixels[k], sphere_share / 1.5)
        << "the selection of \"red sphere\" covers " << scene.objects[k].name << " nearly as much as the sphere";
  }
  Json default_view = Ok(live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}}));  // camera 0 at most 160 wide
  EXPECT_EQ(default_view["width"], 48);

  // The overlay picture: the same view with selected pixels tinted magenta.
  auto overlay_res = live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", best}, {"format", "png"}});
  ASSERT_EQ(overlay_res->status, 200) << overlay_res->body;
  EXPECT_EQ(overlay_res->get_header_value("Content-Type"), "image/png");
  EXPECT_NEAR(std::stod(overlay_res->get_header_value("X-Coverage")), best_coverage, 1e-4);
  at::Tensor overlay = DecodeUnitRgb(overlay_res->body);
  at::Tensor before = RenderPng(live, best);
  ASSERT_TRUE(overlay.defined() && before.defined());
  EXPECT_EQ(overlay.sizes(), before.sizes());
  const at::Tensor tinted = (overlay - before).abs().amax(2) > 0.1f;
  EXPECT_NEAR(tinted.to(at::kFloat).mean().item<double>(), best_coverage, 0.05);
  auto select_render = live.Post("/api/select_render", {{"camera", best}, {"format", "png"}});
  ASSERT_EQ(select_render->status, 200) << select_render->body;
  EXPECT_LT((DecodeUnitRgb(select_render->body) - overlay).abs().max().item<float>(), 2.5f / 255);

  // Delete: the picture changes where the sphere was, and the sphere is no longer selected there.
  Json deleted = Ok(live.Post("/api/edit", {{"op", "delete"}}));
  EXPECT_EQ(deleted["edits"], 1);
  at::Tensor after_delete = RenderPng(live, best);
  const double delete_change = (after_delete - before).abs().mean().item<double>();
  EXPECT_GT((after_delete - before).abs().amax(2).gt(0.2f).to(at::kFloat).mean().item<double>(), 0.3 * best_coverage);
  Json reselect = Ok(live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", best}}));
  EXPECT_LT(reselect["coverage"].get<double>(), 0.5 * best_coverage);

  // Undo: the trained scene is back (the occupancy grid is re-estimated, so allow a little noise).
  Json undone = Ok(live.Post("/api/undo", Json::object()));
  EXPECT_EQ(undone["undone"], "delete");
  EXPECT_EQ(undone["edits"], 0);
  at::Tensor after_undo = RenderPng(live, best);
  EXPECT_LT((after_undo - before).abs().mean().item<double>(), 0.1 * delete_change);

  // Recolour to green: the selected pixels get greener.
  Ok(live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", best}}));
  Ok(live.Post("/api/edit", {{"op", "recolor"}, {"color", "#00ff00"}}));
  at::Tensor green = RenderPng(live, best);
  auto mean_in_mask = [&](const at::Tensor& image, int channel) {
    return image.select(2, channel).masked_select(tinted).mean().item<double>();
  };
  EXPECT_GT(mean_in_mask(green, 1), mean_in_mask(before, 1) + 0.2);
  EXPECT_LT(mean_in_mask(green, 0), mean_in_mask(before, 0) - 0.2);

  // A text edit on top: the (now green) sphere fitted to "blue sphere" under the run's CLIP gets bluer.
  Json text = Ok(live.Post("/api/edit", {{"op", "text"}, {"prompt", "blue sphere"}}));
  EXPECT_EQ(text["edits"], 2);
  green = RenderPng(live, best);  // the move below is measured against the scene as it now is
  EXPECT_GT(mean_in_mask(green, 2) - mean_in_mask(green, 1), 0.1) << "bluer than green after \"blue sphere\"";

  // Move it by a fraction of the scene.
  Json moved = Ok(live.Post("/api/edit", {{"op", "translate"}, {"offset", {0.0, 0.0, 0.3}}}));
  EXPECT_EQ(moved["edits"], 3);
  EXPECT_GT((RenderPng(live, best) - green).abs().amax(2).gt(0.2f).to(at::kFloat).mean().item<double>(), 0.01);

  // Save: a new run folder beside the run, which loads with both edits.
  Json saved = Ok(live.Post("/api/save", {{"out", "tiny-edited"}}));
  const fs::path saved_path = saved["saved"].get<std::string>();
  EXPECT_EQ(saved_path, fs::weakly_canonical(fs::path(run).parent_path() / "tiny-edited"));
  EXPECT_EQ(EditList::Load(saved_path / "edits.json").size(), 3u);
  auto reloaded = LoadDffRun(saved_path.string(), "cpu", nullptr);
  auto edited_view = reloaded->Render(reloaded->TrainingCameras()[best]);
  EXPECT_EQ(edited_view.rgb.size(0), 48);
  ExpectJsonError(live.Post("/api/save", {{"out", "tiny-edited"}}), 409, "already exists");
  ExpectJsonError(live.Post("/api/save", {{"out", "../escape"}}), 403, "..");
  ExpectJsonError(live.Post("/api/save", {{"out", "/etc/nerfedit-escape"}}), 403, "outside");
  ExpectJsonError(live.Post("/api/save", Json::object()), 400, "out");
  EXPECT_FALSE(fs::exists("/etc/nerfedit-escape"));
  fs::remove_all(saved_path);
}

TEST(EditSession, ClickSelectsWhatIsUnderThePixel) {
  LiveEdit live(TinyRun());
  // Find a pixel of the red sphere in camera 0 via the text mask, then click there.
  auto res = live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", 0}, {"format", "png"}});
  ASSERT_EQ(res->status, 200) << res->body;
  at::Tensor overlay = DecodeUnitRgb(res->body), plain = RenderPng(live, 0);
  at::Tensor tinted = (overlay - plain).abs().amax(2) > 0.1f;
  ASSERT_GT(tinted.sum().item<int64_t>(), 0);
  at::Tensor yx = tinted.nonzero().to(at::kFloat).mean(0);  // centroid of the sphere's pixels
  Json click = Ok(live.Post("/api/select", {{"click", {{"x", yx[1].item<double>()}, {"y", yx[0].item<double>()}}},
                                            {"camera", 0}}));
  EXPECT_GT(click["coverage"].get<double>(), 0.005);
  EXPECT_LT(click["coverage"].get<double>(), 0.9);
}

TEST(EditSession, BadRequestsGetClearErrors) {
  LiveEdit live(TinyRun());
  ExpectJsonError(live.Post("/api/select", Json::object()), 400, "exactly one of");
  ExpectJsonError(live.Post("/api/select", {{"text", "red"}, {"click", {{"x", 1}, {"y", 1}}}, {"camera", 0}}), 400,
              "exactly one of");
  ExpectJsonError(live.Post("/api/select", {{"click", {{"x", 1}, {"y", 1}}}}), 400, "needs the view");
  ExpectJsonError(live.Post("/api/select", {{"click", {{"x", 100}, {"y", 1}}}, {"camera", 0}}), 400, "outside");
  ExpectJsonError(live.Post("/api/select", {{"click", {{"x", 1}}}, {"camera", 0}}), 400, "\"y\"");
  ExpectJsonError(live.Post("/api/select", {{"text", "red"}, {"colour", 1}}), 400, "colour");
  ExpectJsonError(live.Post("/api/select", {{"click", {{"x", 1}, {"y", 1}}}, {"camera", 0}, {"negatives", {"ground"}}}), 400,
              "go with a \"text\"");
  ExpectJsonError(live.Post("/api/select", {{"text", "red"}, {"negatives", "ground"}}), 400, "negatives");
  ExpectJsonError(live.Post("/api/select", {{"text", "red"}, {"camera", 99}}), 404, "camera 99");
  ExpectJsonError(live.Post("/api/select", {{"text", "red"}, {"camera", 0}, {"width", 1000}, {"height", 1000}}), 413,
              "max_pixels");
  Ok(live.Post("/api/select", {{"text", "red sphere"}, {"negatives", SceneNegatives()}, {"camera", 0}}));
  ExpectJsonError(live.Post("/api/select_render", {{"camera", 0}, {"mode", "depth"}}), 400, "rgb");
  ExpectJsonError(live.Post("/api/edit", {{"op", "explode"}}), 400, "unknown op \"explode\"");
  ExpectJsonError(live.Post("/api/edit", Json::object()), 400, "op");
  ExpectJsonError(live.Post("/api/edit", {{"op", "recolor"}}), 400, "#rrggbb");
  ExpectJsonError(live.Post("/api/edit", {{"op", "recolor"}, {"color", "#12345g"}}), 400, "#rrggbb");
  ExpectJsonError(live.Post("/api/edit", {{"op", "recolor"}, {"color", "red"}}), 400, "#rrggbb");
  ExpectJsonError(live.Post("/api/edit", {{"op", "translate"}, {"offset", {1, 2}}}), 400, "[x, y, z]");
  ExpectJsonError(live.Post("/api/edit", {{"op", "delete"}, {"color", "#ffffff"}}), 400, "recolor");
  ExpectJsonError(live.Post("/api/edit", {{"op", "text"}}), 400, "needs \"prompt\"");
  ExpectJsonError(live.Post("/api/edit", {{"op", "text"}, {"prompt", std::string(300, 'a')}}), 400, "longer than");
  ExpectJsonError(live.Post("/api/edit", {{"op", "delete"}, {"prompt", "blue sphere"}}), 400, "belongs to op");
  ExpectJsonError(live.Post("/api/edit", {{"op", "text"}, {"prompt", "golden sphere"}}), 400, "never trained on");
  ExpectJsonError(live.Post("/api/undo", {{"steps", 2}}), 400, "empty object");
  ExpectJsonError(live.Post("/api/save", {{"out", 5}}), 400, "out");
}

TEST(EditSession, RunsWithoutFeaturesSayWhy) {
  ViewerServer server(std::make_shared<SphereScene>(false), "spheres", ViewerOptions().port(0));
  EditSession::RegisterUnavailable(server);
  server.Start();
  httplib::Client c("127.0.0.1", server.port());
  for (const char* path : {"/api/select", "/api/edit", "/api/undo", "/api/save", "/api/select_render"}) {
    ExpectJsonError(c.Post(path, "{}", "application/json"), 404, "no feature field");
  }
  NerfConfig plain;  // the default field has no features
  EXPECT_FALSE(EditSession::Supports(NerfModel(plain, at::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).view({2, 3}), {},
                                               at::kCPU)));
}

}  // namespace
}  // namespace nerfedit
