// Live-server tests: a ViewerServer on a loopback port 0 over the analytic sphere scene, driven by httplib::Client.
#include "app/viewer/viewer_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "app/viewer/sphere_scene.h"
#include "app/viewer/viewer_test_util.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// The sphere scene with a gate: once armed, every render waits for Release(), so tests control what is queued.
class GatedScene : public SphereScene {
 public:
  using SphereScene::SphereScene;
  RenderedView Render(const Camera& camera) override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ++started_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return !armed_; });
    }
    if (fail_) throw Error("the scene exploded");
    return SphereScene::Render(camera);
  }
  void Arm() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = true;
    started_ = 0;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    changed_.notify_all();
  }
  void WaitStarted(int count) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return started_ >= count; });
  }
  std::atomic<bool> fail_{false};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;
  int started_ = 0;
};

struct Live {
  explicit Live(ViewerOptions options = {}, bool features = false)
      : scene(std::make_shared<GatedScene>(features)),
        server(scene, "spheres", options.port(0).static_dir(options.static_dir().empty() ? NERFEDIT_VIEWER_STATIC_DIR
                                                                                           : options.static_dir())) {
    server.Start();
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(60, 0);
    return c;
  }
  httplib::Result Render(const Json& body) const { return Client().Post("/api/render", body.dump(), "application/json"); }
  Json Status() const { return Json::parse(Client().Get("/api/status")->body); }

  std::shared_ptr<GatedScene> scene;
  ViewerServer server;
};

Json PoseJson(const Camera& camera) { return camera.ToJson()["transform_matrix"]; }

TEST(ViewerServer, InfoDescribesTheScene) {
  Live live;
  auto res = live.Client().Get("/api/info");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  Json info = Json::parse(res->body);
  EXPECT_EQ(info["run"], "spheres");
  EXPECT_EQ(info["camera_count"], 8);
  EXPECT_EQ(info["has_features"], false);
  EXPECT_EQ(info["image"]["width"], 160);
  EXPECT_EQ(info["image"]["height"], 120);
  EXPECT_EQ(info["aabb"], Json::parse("[[-1.5,-1.5,0.0],[1.5,1.5,1.2000000476837158]]"));
  EXPECT_EQ(info["max_pixels"], 1024 * 1024);

  Live with_features(ViewerOptions(), /*features=*/true);
  EXPECT_EQ(Json::parse(with_features.Client().Get("/api/info")->body)["has_features"], true);
}

TEST(ViewerServer, CamerasListTheTrainingPoses) {
  Live live;
  auto res = live.Client().Get("/api/cameras");
  ASSERT_EQ(res->status, 200);
  Json cameras = Json::parse(res->body);
  ASSERT_EQ(cameras.size(), 8u);
  auto expected = live.scene->TrainingCameras();
  for (size_t i = 0; i < cameras.size(); ++i) {
    EXPECT_EQ(cameras[i]["index"], i);
    EXPECT_EQ(cameras[i]["w"], 160);
    EXPECT_DOUBLE_EQ(cameras[i]["fl_x"].get<double>(), expected[i].fx);
    EXPECT_EQ(cameras[i]["transform_matrix"], PoseJson(expected[i]));
  }
}

TEST(ViewerServer, RendersTrainingCameraAsJpegOfTheRightSize) {
  Live live;
  auto res = live.Render({{"camera", 0}, {"client", "c"}, {"request", 7}});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(res->get_header_value("X-Resolution"), "160x120");
  EXPECT_EQ(res->get_header_value("X-Request"), "7");
  EXPECT_GE(std::stod(res->get_header_value("X-Render-Ms")), 0.0);
  auto image = DecodeRgb8(res->body);
  ASSERT_TRUE(image.defined());
  EXPECT_EQ(image.sizes(), at::IntArrayRef({120, 160, 3}));
  // Every camera looks at the red sphere: the centre pixel is red.
  auto centre = image[60][80].to(at::kInt);
  EXPECT_GT(centre[0].item<int>(), 120);
  EXPECT_LT(centre[1].item<int>(), 80);

  // A new size for a training camera keeps its pose and scales its intrinsics.
  auto wide = live.Render({{"camera", 3}, {"width", 320}, {"height", 120}, {"format", "png"}});
  ASSERT_EQ(wide->status, 200) << wide->body;
  EXPECT_EQ(DecodeRgb8(wide->body).sizes(), at::IntArrayRef({120, 320, 3}));
}

TEST(ViewerServer, PngOfAPoseMatchesTheSceneExactly) {
  Live live;
  Camera camera = Camera::LookAt({2.5f, -2.0f, 1.8f}, {0, 0, 0.3f}, {0, 0, 1}, 96, 64, 60 * M_PI / 180);
  for (const char* mode : {"rgb", "depth", "opacity"}) {
    auto res = live.Render({{"pose", PoseJson(camera)}, {"width", 96}, {"height", 64}, {"fov_x_degrees", 60},
                            {"mode", mode}, {"format", "png"}});
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
    SphereScene reference;
    auto expected = ViewToImage(reference.Render(camera), ParseViewMode(mode), nullptr);
    auto got = DecodeRgb8(res->body);
    ASSERT_TRUE(got.defined());
    // PNG is lossless; float pose round trips through JSON may flip a pixel on a silhouette, no more.
    auto differing = (got.to(at::kInt) - expected.to(at::kInt)).abs().gt(2).any(2).sum().item<int64_t>();
    EXPECT_LE(differing, 3) << mode;
    if (std::string(mode) == "depth") {
      double near = std::stod(res->get_header_value("X-Depth-Near"));
      double far = std::stod(res->get_header_value("X-Depth-Far"));
      double distance = std::sqrt(2.5 * 2.5 + 2.0 * 2.0 + 1.5 * 1.5);  // to the look-at point
      EXPECT_GT(near, distance - 2.5);
      EXPECT_LT(near, far);
      EXPECT_LT(far, distance + 2.5);
    }
    if (std::string(mode) == "opacity") {
      auto values = std::get<0>(at::_unique(got.flatten()));
      EXPECT_LE(values.numel(), 2);  // the analytic scene is either hit or not
    }
  }
}

TEST(ViewerServer, BadRenderRequestsGetClearJsonErrors) {
  Live live(ViewerOptions().max_pixels(400 * 400));
  Json pose = PoseJson(live.scene->TrainingCameras()[0]);
  auto client = live.Client();
  ExpectJsonError(client.Post("/api/render", "{\"pose\": [1,2", "application/json"), 400, "malformed JSON");
  ExpectJsonError(client.Post("/api/render", "[1,2,3]", "application/json"), 400, "JSON object");
  ExpectJsonError(live.Render({{"pose", Json::parse("[[1,0,0],[0,1,0],[0,0,1]]")}, {"width", 8}, {"height", 8}}), 400,
              "4x4");
  ExpectJsonError(client.Post("/api/render",
                          "{\"pose\": [[1,0,0,0],[0,1,0,0],[0,0,1,1e999],[0,0,0,1]], \"width\": 8, \"height\": 8}",
                          "application/json"),
              400, "malformed JSON");
  Json nan_pose = pose;
  nan_pose[1][2] = "NaN";
  ExpectJsonError(live.Render({{"pose", nan_pose}, {"width", 8}, {"height", 8}}), 400, "must be a number");
  Json skewed = pose;
  skewed[3][0] = 0.5;
  ExpectJsonError(live.Render({{"pose", skewed}, {"width", 8}, {"height", 8}}), 400, "last row");
  ExpectJsonError(live.Render({{"pose", Json::parse("[[0,0,0,0],[0,0,0,0],[0,0,0,0],[0,0,0,1]]")}, {"width", 8},
                           {"height", 8}}),
              400, "singular");
  ExpectJsonError(live.Render({{"pose", pose}}), 400, "needs \"width\" and \"height\"");
  ExpectJsonError(live.Render({{"pose", pose}, {"camera", 1}}), 400, "exactly one");
  ExpectJsonError(live.Render({{"width", 8}, {"height", 8}}), 400, "exactly one");
  ExpectJsonError(live.Render({{"camera", 8}}), 404, "camera 8 does not exist");
  ExpectJsonError(live.Render({{"camera", -1}}), 404, "does not exist");
  ExpectJsonError(live.Render({{"camera", "2"}}), 400, "must be an integer");
  ExpectJsonError(live.Render({{"camera", 0}, {"width", 401}, {"height", 400}}), 413, "max_pixels 160000");
  ExpectJsonError(live.Render({{"camera", 0}, {"width", 0}, {"height", 10}}), 400, "out of range");
  ExpectJsonError(live.Render({{"camera", 0}, {"mode", "normals"}}), 400, "unknown mode \"normals\"");
  ExpectJsonError(live.Render({{"camera", 0}, {"format", "gif"}}), 400, "unknown format");
  ExpectJsonError(live.Render({{"camera", 0}, {"quality", 0}}), 400, "quality");
  ExpectJsonError(live.Render({{"camera", 0}, {"zoom", 2}}), 400, "zoom");  // unknown keys are errors
  ExpectJsonError(live.Render({{"pose", pose}, {"width", 8}, {"height", 8}, {"fov_x_degrees", 180}}), 400, "(0,180)");
  ExpectJsonError(live.Render({{"pose", pose}, {"width", 8}, {"height", 8}, {"intrinsics", {{"fl_x", 10}}}}), 400,
              "fl_y");
  ExpectJsonError(live.Render({{"camera", 0}, {"request", "x"}}), 400, "\"request\" must be an integer");
}

TEST(ViewerServer, UnknownPathsAndMethodsGetJsonErrors) {
  Live live;
  auto client = live.Client();
  ExpectJsonError(client.Get("/api/nothing"), 404, "unknown API endpoint /api/nothing");
  ExpectJsonError(client.Post("/api/select", "{}", "application/json"), 404, "unknown API endpoint");
  ExpectJsonError(client.Get("/api/render"), 405, "takes POST");
  ExpectJsonError(client.Post("/api/info", "{}", "application/json"), 405, "takes GET");
  ExpectJsonError(client.Delete("/api/info"), 404, "");
  ExpectJsonError(client.Get("/no_such_page.html"), 404, "no such file");
}

TEST(ViewerServer, TooManyClientsGet429) {
  Live live(ViewerOptions().max_clients(2));
  EXPECT_EQ(live.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "a"}})->status, 200);
  EXPECT_EQ(live.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "b"}})->status, 200);
  ExpectJsonError(live.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "c"}}), 429, "too many clients");
  EXPECT_EQ(live.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "a"}})->status, 200);
  EXPECT_EQ(live.Status()["clients"], 2);

  Live forgetful(ViewerOptions().max_clients(1).client_timeout_s(0.2));
  EXPECT_EQ(forgetful.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "a"}})->status, 200);
  EXPECT_EQ(forgetful.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "b"}})->status, 429);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(forgetful.Render({{"camera", 0}, {"width", 16}, {"height", 12}, {"client", "b"}})->status, 200);
}

TEST(ViewerServer, ServesOnlyFilesInsideTheStaticFolder) {
  testing::TempDir root;
  fs::create_directories(root / "static/sub");
  fs::create_directories(root / "private");
  std::ofstream(root / "static/index.html") << "<html>home</html>";
  std::ofstream(root / "static/sub/app.js") << "let x = 1;";
  std::ofstream(root / "static/style.css") << "body{}";
  std::ofstream(root / "private/secret.txt") << "TOP-SECRET-CONTENT";
  fs::create_symlink(root / "private/secret.txt", root / "static/leak.txt");
  fs::create_symlink(root / "private", root / "static/leakdir");
  fs::create_symlink(root / "static/sub/app.js", root / "static/alias.js");  // a link that stays inside is fine
  Live live(ViewerOptions().static_dir(root / "static"));
  auto client = live.Client();

  auto index = client.Get("/");
  ASSERT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<html>home</html>");
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(client.Get("/index.html")->body, "<html>home</html>");
  auto js = client.Get("/sub/app.js");
  ASSERT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(client.Get("/style.css")->get_header_value("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(client.Get("/alias.js")->body, "let x = 1;");

  for (const char* path : {"/../private/secret.txt", "/sub/../../private/secret.txt", "/%2e%2e/private/secret.txt",
                           "/leak.txt", "/leakdir/secret.txt", "//etc/passwd"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 403) << path << " -> " << res->body;
    EXPECT_EQ(res->body.find("TOP-SECRET"), std::string::npos) << path;
  }
  EXPECT_EQ(client.Get("/sub")->status, 404);  // a folder is not a file
}

TEST(ViewerServer, ServesTheViewerPage) {
  Live live;
  auto client = live.Client();
  auto page = client.Get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<canvas"), std::string::npos);
  for (const char* asset : {"/viewer.js", "/viewer.css"}) EXPECT_EQ(client.Get(asset)->status, 200) << asset;
}

TEST(ViewerServer, NewerRequestSupersedesTheQueuedOneOfTheSameClient) {
  Live live;
  live.scene->Arm();
  auto request = [&](const std::string& client, int sequence) {
    return Json{{"camera", 0}, {"width", 32}, {"height", 24}, {"client", client}, {"request", sequence}};
  };
  std::optional<httplib::Result> first, second, third, other;  // Result has no default constructor
  std::thread t1([&] { first.emplace(live.Render(request("a", 1))); });
  live.scene->WaitStarted(1);  // request 1 is rendering and holds the render thread
  std::thread t2([&] { second.emplace(live.Render(request("a", 2))); });
  while (live.Status()["waiting"] != 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::thread t3([&] { third.emplace(live.Render(request("a", 3))); });
  t2.join();  // answered at once: request 3 took its place
  ExpectJsonError(*second, 409, "superseded");
  EXPECT_EQ(Json::parse((*second)->body), Json({{"error", "superseded"}}));
  while (live.Status()["superseded"] != 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ExpectJsonError(live.Render(request("a", 2)), 409, "superseded");  // older than the one waiting
  std::thread t4([&] { other.emplace(live.Render(request("b", 1))); });  // another client is not affected
  while (live.Status()["waiting"] != 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  live.scene->Release();
  t1.join();
  t3.join();
  t4.join();
  EXPECT_EQ((*first)->status, 200);
  EXPECT_EQ((*third)->status, 200);
  EXPECT_EQ((*third)->get_header_value("X-Request"), "3");
  EXPECT_EQ((*other)->status, 200);
  EXPECT_EQ(live.Status()["superseded"], 2);
}

TEST(ViewerServer, ConcurrentClientsAreAllAnswered) {
  Live live;
  std::atomic<int> ok{0}, superseded{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        auto res = live.Render({{"camera", (t + i) % 8}, {"width", 64}, {"height", 48}, {"client", "c" + std::to_string(t)},
                                {"request", i}, {"mode", i % 2 ? "depth" : "rgb"}});
        (res && res->status == 200 && DecodeRgb8(res->body).size(1) == 64 ? ok : other)++;
      }
    });
  }
  // Two threads share one client id: the server may supersede either's queued request, but answers every one.
  std::atomic<int> sequence{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 8; ++i) {
        auto res = live.Render({{"camera", i}, {"width", 64}, {"height", 48}, {"client", "shared"},
                                {"request", sequence++}});
        if (res && res->status == 200) ok++;
        else if (res && res->status == 409) superseded++;
        else other++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(ok + superseded, 64);
  EXPECT_GE(ok, 49);  // the six private clients all succeed, and the shared one at least once
  EXPECT_EQ(live.Status()["superseded"], superseded.load());
  EXPECT_EQ(live.Status()["waiting"], 0);
}

TEST(ViewerServer, FullQueueGets503AndStopAnswersWaitingRequests) {
  Live live(ViewerOptions().max_clients(1));  // room for 2 waiting jobs
  live.scene->Arm();
  Json anonymous = {{"camera", 0}, {"width", 16}, {"height", 12}};
  std::vector<std::optional<httplib::Result>> results(3);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0].emplace(live.Render(anonymous)); });
  live.scene->WaitStarted(1);
  for (int i = 1; i < 3; ++i) threads.emplace_back([&, i] { results[i].emplace(live.Render(anonymous)); });
  while (live.Status()["waiting"] != 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ExpectJsonError(live.Render(anonymous), 503, "render queue is full");

  std::thread stopper([&] { live.server.Stop(); });
  for (int i = 1; i < 3; ++i) threads[i].join();  // the waiting ones are failed by Stop
  for (int i = 1; i < 3; ++i) ExpectJsonError(*results[i], 503, "shutting down");
  live.scene->Release();
  threads[0].join();
  EXPECT_EQ((*results[0])->status, 200);  // the running one finishes
  stopper.join();
  live.server.Wait();  // returns at once: the server has stopped
  EXPECT_FALSE(live.Client().Get("/api/info"));
}

TEST(ViewerServer, SceneErrorsBecome500) {
  Live live;
  live.scene->fail_ = true;
  ExpectJsonError(live.Render({{"camera", 1}}), 500, "the scene exploded");
  live.scene->fail_ = false;
  EXPECT_EQ(live.Render({{"camera", 1}})->status, 200);
}

TEST(ViewerServer, ExtensionEndpointsRunOnTheRenderThreadAndSeeSetScene) {
  auto scene = std::make_shared<SphereScene>();
  ViewerServer server(scene, "ext", ViewerOptions().port(0));
  server.AddPostEndpoint("/api/echo_features", [&server](const Json& request) -> ApiReply {
    Camera camera = ParseViewRequest(request, server.scene()->TrainingCameras(), 1 << 20).camera;
    auto future = server.RunOnRenderThread<bool>("", 0, [&server, camera] {
      return server.scene()->Render(camera).features.defined();
    });
    return ApiReply::Json({{"has_features", AwaitRender(future)}});
  });
  EXPECT_THROW(server.AddPostEndpoint("/select", nullptr), Error);
  server.Start();
  EXPECT_THROW(server.AddPostEndpoint("/api/late", nullptr), Error);
  httplib::Client client("127.0.0.1", server.port());
  Json info = Json::parse(client.Get("/api/info")->body);
  EXPECT_NE(std::find(info["endpoints"].begin(), info["endpoints"].end(), "POST /api/echo_features"),
            info["endpoints"].end());
  Json body = {{"camera", 0}, {"width", 8}, {"height", 6}};
  auto res = client.Post("/api/echo_features", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body)["has_features"], false);
  server.SetScene(std::make_shared<SphereScene>(true));
  EXPECT_EQ(Json::parse(client.Post("/api/echo_features", body.dump(), "application/json")->body)["has_features"], true);
  ExpectJsonError(client.Post("/api/echo_features", "{\"camera\": 99}", "application/json"), 404, "camera 99");
  ExpectJsonError(client.Get("/api/echo_features"), 405, "takes POST");
}

// Two styles, each painting the whole picture one colour: which style renders shows in any pixel.
class TwoStyleScene : public Renderable {
 public:
  RenderedView Render(const Camera& camera) override {
    const std::array<float, 3>& c = kColours[style_];
    RenderedView view;
    view.rgb = torch::tensor({c[0], c[1], c[2]}).expand({camera.height, camera.width, 3}).contiguous();
    view.depth = torch::ones({camera.height, camera.width});
    view.opacity = torch::ones({camera.height, camera.width});
    return view;
  }
  std::vector<Camera> TrainingCameras() const override {
    return {Camera::LookAt({3, 3, 3}, {0, 0, 0}, {0, 0, 1}, 16, 12, 0.9)};
  }
  at::Tensor Aabb() const override { return torch::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).reshape({2, 3}); }
  std::vector<std::string> StyleNames() const override { return {"ember", "sea"}; }
  void SelectStyle(int64_t style) override {
    NE_CHECK(style >= 0 && style < 2, "style ", style, " is out of range");
    style_ = style;
  }
  static constexpr std::array<std::array<float, 3>, 2> kColours = {{{0.8f, 0.2f, 0.1f}, {0.1f, 0.3f, 0.9f}}};

 private:
  std::atomic<int64_t> style_{0};
};

TEST(ViewerServer, StyleSwitchesTheRenderedStyleByIndexOrName) {
  ViewerServer server(std::make_shared<TwoStyleScene>(), "styled", ViewerOptions().port(0));
  server.Start();
  httplib::Client client("127.0.0.1", server.port());
  Json info = Json::parse(client.Get("/api/info")->body);
  EXPECT_EQ(info["styles"], Json({"ember", "sea"}));
  EXPECT_EQ(info["style"], 0);
  EXPECT_NE(std::find(info["endpoints"].begin(), info["endpoints"].end(), "POST /api/style"), info["endpoints"].end());
  // The centre pixel of training camera 0, as a PNG (lossless) decodes it.
  auto centre = [&] {
    auto res = client.Post("/api/render", Json({{"camera", 0}, {"format", "png"}}).dump(), "application/json");
    EXPECT_EQ(res->status, 200) << res->body;
    return DecodeUnitRgb(res->body)[6][8];
  };
  auto expect_colour = [&](int style) {
    const at::Tensor expected = torch::tensor(
        {TwoStyleScene::kColours[style][0], TwoStyleScene::kColours[style][1], TwoStyleScene::kColours[style][2]});
    EXPECT_TRUE(torch::allclose(centre(), expected, 0, 1.0 / 255)) << "style " << style << ": " << centre();
  };
  expect_colour(0);

  auto post = [&](const Json& body) { return client.Post("/api/style", body.dump(), "application/json"); };
  auto res = post({{"style", 1}});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body), Json({{"style", 1}, {"name", "sea"}}));
  expect_colour(1);
  EXPECT_EQ(Json::parse(client.Get("/api/info")->body)["style"], 1);
  res = post({{"style", "ember"}});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body), Json({{"style", 0}, {"name", "ember"}}));
  expect_colour(0);

  // Bad inputs leave the style as it was.
  ExpectJsonError(post({{"style", 2}}), 400, "style 2 is out of range: the run has 2 styles (0..1)");
  ExpectJsonError(post({{"style", -1}}), 400, "out of range");
  ExpectJsonError(post({{"style", 18446744073709551615ull}}), 400, "out of range");
  ExpectJsonError(post({{"style", "lava"}}), 400, "unknown style \"lava\": the run's styles are \"ember\", \"sea\"");
  ExpectJsonError(post({{"style", 0.5}}), 400, "integer index or a style name");
  ExpectJsonError(post(Json::object()), 400, "needs \"style\"");
  ExpectJsonError(post({{"style", 1}, {"colour", "red"}}), 400, "unknown field \"colour\"");
  ExpectJsonError(client.Post("/api/style", "[1]", "application/json"), 400, "JSON object");
  ExpectJsonError(client.Get("/api/style"), 405, "takes POST");
  expect_colour(0);
}

TEST(ViewerServer, ScenesWithoutStylesListNoneAndRefuseASwitch) {
  Live live;
  Json info = Json::parse(live.Client().Get("/api/info")->body);
  EXPECT_EQ(info["styles"], Json::array());
  EXPECT_TRUE(info["style"].is_null());
  ExpectJsonError(live.Client().Post("/api/style", "{\"style\": 0}", "application/json"), 404,
                  "this run has no styles");
}

TEST(ViewerServer, BindErrorsAndBadOptionsThrow) {
  auto scene = std::make_shared<SphereScene>();
  EXPECT_THROW(ViewerServer(nullptr, "x"), Error);
  EXPECT_THROW(ViewerServer(scene, "x", ViewerOptions().max_pixels(0)), Error);
  ViewerServer missing_static(scene, "x", ViewerOptions().port(0).static_dir("/nonexistent/static"));
  EXPECT_THROW(missing_static.Start(), Error);
  ViewerServer first(scene, "x", ViewerOptions().port(0));
  first.Start();
  ViewerServer second(scene, "x", ViewerOptions().port(first.port()));
  EXPECT_THROW(second.Start(), Error);
}

TEST(ViewRequest, IntrinsicsFollowTheRequestedSize) {
  SphereScene scene;
  auto cameras = scene.TrainingCameras();
  // Same aspect, twice the size: everything doubles.
  Camera big = ParseViewRequest({{"camera", 2}, {"width", 320}, {"height", 240}}, cameras, 1 << 20).camera;
  EXPECT_DOUBLE_EQ(big.fx, 2 * cameras[2].fx);
  EXPECT_DOUBLE_EQ(big.cy, 2 * cameras[2].cy);
  EXPECT_TRUE(at::equal(big.world_from_cam, cameras[2].world_from_cam));
  // Wider aspect: square pixels, centred principal point.
  Camera wide = ParseViewRequest({{"camera", 2}, {"width", 160}, {"height", 60}}, cameras, 1 << 20).camera;
  EXPECT_DOUBLE_EQ(wide.fx, wide.fy);
  EXPECT_DOUBLE_EQ(wide.cy, 30.0);
  Camera fov = ParseViewRequest({{"pose", PoseJson(cameras[0])}, {"width", 100}, {"height", 50}, {"fov_x_degrees", 90}},
                                cameras, 1 << 20)
                   .camera;
  EXPECT_NEAR(fov.fx, 50.0, 1e-9);
  EXPECT_DOUBLE_EQ(fov.cx, 50.0);
  Camera given = ParseViewRequest({{"pose", PoseJson(cameras[0])}, {"width", 100}, {"height", 50},
                                   {"intrinsics", {{"fl_x", 70}, {"fl_y", 71}, {"cx", 49}, {"cy", 26}}}},
                                  cameras, 1 << 20)
                     .camera;
  EXPECT_EQ(given.fy, 71);
  EXPECT_EQ(given.cy, 26);
}

}  // namespace
}  // namespace nerfedit
