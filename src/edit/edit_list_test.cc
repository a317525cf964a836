#include "edit/edit_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "edit/edit_ops.h"
#include "edit/edit_test_util.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

using ::testing::HasSubstr;
using namespace nerfedit::testing;


// Every kind of edit, as the CLI writes them.
EditList AllEdits() {
  EditList list;
  list.Push(RecolorField(Spheres(), SelectSphere1(), RecolorOptions().target({0, 1, 0}).source({0.6f, 0.1f, 0.1f})).Config());
  list.Push(TransformField(Spheres(), SelectSphere1(), Transform::Make({0, 0.5, 0}, {0, 0, 1}, 30, 1.2, {-0.5, 0, 0})).Config());
  list.Push(ComposeField(Spheres(), Spheres(), SelectSphere2(), Transform::Make({0, 0, 0.8}), "runs/other").Config());
  list.Push(RecolorField(Spheres(), SelectSphere2(), RecolorOptions().mode("hue").degrees(-45)).Config());
  list.Push(DeleteField(Spheres(), Selection::FromFeature("far", Basis(1), SelectionOptions().box({-2, 0.9, -2, 2, 2, 2}))).Config());
  list.Push(ExtractField(Spheres(), SelectSphere1().WithThreshold(0.01)).Config());
  return list;
}

std::function<FieldPtr(const std::string&)> Loader(std::vector<std::string>* loaded) {
  return [loaded](const std::string& run) {
    loaded->push_back(run);
    return Spheres();
  };
}

TEST(EditList, JsonRoundTripGivesIdenticalFields) {
  TempDir dir;
  EditList list = AllEdits();
  ASSERT_EQ(list.size(), 6u);
  list.Save(dir / "edits.json");
  EditList back = EditList::Load(dir / "edits.json");
  EXPECT_EQ(back.ToJson(), list.ToJson());

  std::vector<std::string> loaded;
  FieldPtr a = ApplyEdits(Spheres(), list, Loader(&loaded));
  FieldPtr b = ApplyEdits(Spheres(), back, Loader(&loaded));
  EXPECT_EQ(loaded, (std::vector<std::string>{"runs/other", "runs/other"}));
  at::Tensor x = torch::rand({4096, 3}) * 3 - 1.5;
  at::Tensor d = torch::nn::functional::normalize(torch::randn({4096, 3}));
  FieldOutputs oa = a->Query(x, d), ob = b->Query(x, d);
  EXPECT_TRUE(torch::equal(oa.density, ob.density));
  EXPECT_TRUE(torch::equal(oa.rgb, ob.rgb));
  EXPECT_TRUE(torch::equal(a->QueryDensity(x), ob.density));
  EXPECT_GT(oa.density.count_nonzero().item<int64_t>(), 0);  // the edits leave something to compare
  EXPECT_EQ(a->Config(), list.edits.back());  // the outermost wrapper is the last edit
}

TEST(EditList, EditsStackInOrder) {
  EditList list;
  // Move sphere 1 up, then delete what the selection finds above y = 0.5: the moved sphere (its features moved too).
  list.Push(TransformField(Spheres(), SelectSphere1(), Transform::Make({0, 1, 0})).Config());
  list.Push(DeleteField(Spheres(), SelectSphere1(SelectionOptions().box({-2, 0.5, -2, 2, 2, 2}))).Config());
  FieldPtr field = ApplyEdits(Spheres(), list, nullptr);
  EXPECT_TRUE(torch::equal(field->QueryDensity(Points({{-0.5f, 1, 0}, {-0.5f, 0, 0}, {0.5f, 0, 0}})),
                           torch::tensor({0.0f, 0.0f, 20.0f})));
  list.Pop();
  field = ApplyEdits(Spheres(), list, nullptr);
  EXPECT_TRUE(torch::equal(field->QueryDensity(Points({{-0.5f, 1, 0}})), torch::tensor({20.0f})));
  list.Pop();
  EXPECT_TRUE(list.empty());
  EXPECT_THAT(ErrorOf([&] { list.Pop(); }), HasSubstr("nothing to undo"));
  EXPECT_EQ(ApplyEdits(Spheres(), list, nullptr)->Kind(), "two_spheres");
}

TEST(EditList, SaveIsAtomicAndReadable) {
  TempDir dir;
  AllEdits().Save(dir / "sub/edits.json");
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "sub/edits.json"));
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["edits"].size(), 6u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "sub")) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary left behind
}

nlohmann::json Delete() { return DeleteField(Spheres(), SelectSphere1()).Config(); }

std::string LoadError(const nlohmann::json& list) {
  TempDir dir;
  std::ofstream(dir / "edits.json") << list.dump();
  return ErrorOf([&] { EditList::Load(dir / "edits.json"); });
}

TEST(EditList, BadListsNameTheEditAndTheKey) {
  EXPECT_THAT(LoadError({{"version", 2}, {"edits", nlohmann::json::array()}}),
              HasSubstr("edit list version 2 is newer than this nerfedit (1)"));
  EXPECT_THAT(LoadError({{"version", 0}, {"edits", nlohmann::json::array()}}), HasSubstr("version 0 is invalid"));
  EXPECT_THAT(LoadError({{"edits", nlohmann::json::array()}}), HasSubstr("missing required key \"version\""));
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", {}}, {"extra", 1}}), HasSubstr("\"edits\" must be an array"));
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array()}, {"extra", 1}}),
              HasSubstr("unknown key(s) \"extra\""));

  nlohmann::json warp = Delete();
  warp["op"] = "warp";
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({Delete(), warp})}}),
              HasSubstr("edits.json: edit 1 (\"warp\"): key \"op\" is \"warp\", expected one of delete, extract"));

  nlohmann::json move = TransformField(Spheres(), SelectSphere1(), Transform::Make({0, 1, 0})).Config();
  move["matrix"] = std::vector<double>(12, 0.0);
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({move})}}),
              HasSubstr("edit 0 (\"transform\"): key \"matrix\": matrix has 12 values, expected 16"));
  move.erase("matrix");
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({move})}}), HasSubstr("edit 0 (\"transform\"): missing required key \"matrix\""));

  nlohmann::json paint = RecolorField(Spheres(), SelectSphere1(), RecolorOptions()).Config();
  paint["target"] = {1.5, 0, 0};
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({paint})}}),
              HasSubstr("edit 0 (\"recolor\"): key \"target\" value 1.5 is outside [0, 1]"));
  paint["target"] = "red";
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({paint})}}), HasSubstr("key \"target\" has the wrong type"));
  paint["target"] = {1, 0, 0};
  paint["degrees"] = 30;
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({paint})}}), HasSubstr("\"degrees\" is only valid with mode \"hue\""));

  nlohmann::json affine = RecolorField(Spheres(), SelectSphere1(), RecolorOptions().mode("affine")).Config();
  EXPECT_NO_THROW(EditList::FromJson({{"version", 1}, {"edits", nlohmann::json::array({affine})}}, "edits.json"));
  affine["bias"] = {0, 1e9, 0};
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({affine})}}),
              HasSubstr("edit 0 (\"recolor\"): key \"bias\" value 1e+09 is not finite or outside [-100, 100]"));
  affine.erase("bias");
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({affine})}}),
              HasSubstr("missing required key \"bias\""));

  nlohmann::json del = Delete();
  del["matrix"] = std::vector<double>(16, 0.0);
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({del})}}), HasSubstr("edit 0 (\"delete\"): unknown key(s) \"matrix\""));
  del = Delete();
  del["selection"]["query"] = {1, 2};
  EXPECT_THAT(LoadError({{"version", 1}, {"edits", nlohmann::json::array({del})}}),
              HasSubstr("edit 0 (\"delete\"): key \"selection\": negatives[0] has dimension 8 but \"query\" has 2"));

  nlohmann::json compose = ComposeField(Spheres(), Spheres(), SelectSphere2(), Transform(), "runs/x").Config();
  EditList list;
  list.Push(compose);
  EXPECT_THAT(ErrorOf([&] { ApplyEdits(Spheres(), list, nullptr); }),
              HasSubstr("edit 0 (\"compose\"): a compose edit needs a way to load \"runs/x\""));
  compose.erase("source_run");
  EXPECT_THAT(ErrorOf([&] { list.Push(compose); }), HasSubstr("missing required key \"source_run\""));
  EXPECT_EQ(list.size(), 1u);  // a rejected Push leaves the list unchanged
  EXPECT_THAT(ErrorOf([] { EditList::Load("/nonexistent/edits.json"); }), HasSubstr("cannot open /nonexistent/edits.json"));
}

}  // namespace
}  // namespace nerfedit
