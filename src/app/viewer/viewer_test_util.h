// Shared by the viewer's live-server tests: the tiny dff run (trained once per test process) and a loopback server
// with the select-and-edit endpoints over it.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <stb/stb_image.h>

#include <memory>
#include <string>

#include "app/viewer/edit_session.h"
#include "app/viewer/tiny_dff_run.h"
#include "app/viewer/viewer_server.h"
#include "data/procedural_scene.h"
#include "methods/dff/dff_method.h"
#include "util/test_util.h"

namespace nerfedit {

// The tiny run's teacher (a 20-s CLIP without scene crops) is too weak for a text query's default canonical
// negatives (every other colour-shape phrase): the tests name the scene's things, as the CLI's --negatives does.
inline nlohmann::json SceneNegatives() {
  nlohmann::json names = nlohmann::json::array({"ground"});
  for (const auto& object : DefaultScene().objects) names.push_back(object.name);
  return names;
}

// The answer is a JSON error of `status` whose message contains `fragment`.
inline void ExpectJsonError(const httplib::Result& res, int status, const std::string& fragment) {
  ASSERT_TRUE(res) << "no response";
  EXPECT_EQ(res->status, status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  const nlohmann::json body = nlohmann::json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << res->body;
  EXPECT_NE(body["error"].get<std::string>().find(fragment), std::string::npos) << body["error"];
}

// A PNG/JPEG answer's pixels, [H,W,3] uint8; undefined when the bytes are not an image.
inline at::Tensor DecodeRgb8(const std::string& bytes) {
  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                                static_cast<int>(bytes.size()), &w, &h, &channels, 3);
  if (pixels == nullptr) return {};
  at::Tensor out = at::from_blob(pixels, {h, w, 3}, at::kByte).clone();
  stbi_image_free(pixels);
  return out;
}

// The same in [0,1] floats.
inline at::Tensor DecodeUnitRgb(const std::string& bytes) {
  const at::Tensor rgb8 = DecodeRgb8(bytes);
  return rgb8.defined() ? rgb8.to(at::kFloat) / 255.0f : rgb8;
}

// Trained once per process (about a minute): every test copies nothing and loads it fresh.
inline const std::string& TinyRun() {
  static testing::TempDir dir;
  static std::string run = MakeTinyDffRun(dir / "tiny");
  return run;
}

struct LiveEdit {
  explicit LiveEdit(const std::string& run_dir, ViewerOptions options = ViewerOptions().max_pixels(128 * 128))
      : model(LoadDffRun(run_dir, "cpu", nullptr)), session(model, run_dir), server(model, "tiny", options.port(0)) {
    session.Register(server, options.max_pixels());
    server.Start();
  }
  httplib::Result Post(const std::string& path, const nlohmann::json& body) const {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(120, 0);
    return c.Post(path, body.dump(), "application/json");
  }
  std::shared_ptr<NerfModel> model;
  EditSession session;  // before the server: it must outlive the server's Stop()
  ViewerServer server;
};

}  // namespace nerfedit
