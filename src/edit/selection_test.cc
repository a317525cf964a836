#include "edit/selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "edit/edit_test_util.h"
#include "util/error.h"

namespace nerfedit {
namespace {

using ::testing::HasSubstr;
using namespace nerfedit::testing;

TEST(Selection, TextProbabilitiesOverAllLabelsSumToOne) {
  const int64_t n = 64, f = 16, labels = 4;
  at::Tensor features = torch::randn({n, f}) * 5;
  at::Tensor embeddings = torch::randn({labels, f});
  at::Tensor sum = torch::zeros({n});
  for (int64_t j = 0; j < labels; ++j) {
    at::Tensor others = torch::cat({embeddings.slice(0, 0, j), embeddings.slice(0, j + 1)});
    Selection s = Selection::FromText("label " + std::to_string(j), embeddings[j], others);
    sum += s.Probability(features, at::Tensor());
  }
  EXPECT_TRUE(torch::allclose(sum, torch::ones({n}), 1e-5, 1e-5)) << sum;

  // Eq. 5 by hand for label 0: softmax of cosine similarities / temperature.
  Selection s = Selection::FromText("q", embeddings[0], embeddings.slice(0, 1), SelectionOptions().temperature(0.2));
  at::Tensor cos = torch::nn::functional::normalize(features, torch::nn::functional::NormalizeFuncOptions().dim(1))
                       .matmul(torch::nn::functional::normalize(embeddings, torch::nn::functional::NormalizeFuncOptions().dim(1)).t());
  at::Tensor expected = torch::softmax(cos / 0.2, 1).select(1, 0);
  EXPECT_TRUE(torch::allclose(s.Probability(features, at::Tensor()), expected, 1e-5, 1e-6));
}

TEST(Selection, TextQuerySelectsItsSphereOnly) {
  TwoSpheresField field;
  at::Tensor x = Points({{-0.5f, 0, 0}, {-0.4f, 0.1f, 0}, {0.5f, 0, 0}, {0.6f, 0, 0.1f}, {0, 0, 0}, {0, 1, 0}});
  FieldOutputs out = field.Query(x, UpDirections(x.size(0)));
  Selection s = SelectSphere1();
  at::Tensor p = s.Probability(out.features, x);
  EXPECT_GT(p[0].item<float>(), 0.99f);
  EXPECT_GT(p[1].item<float>(), 0.99f);
  for (int i = 2; i < 6; ++i) EXPECT_LT(p[i].item<float>(), 0.01f) << i;
  at::Tensor mask = s.Mask(out.features, x);
  EXPECT_EQ(mask.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(mask, torch::tensor({true, true, false, false, false, false})));
}

TEST(Selection, BoxRestrictsTheSelection) {
  TwoSpheresField field;
  at::Tensor x = Points({{-0.5f, 0, 0}, {0.5f, 0, 0}});
  at::Tensor features = field.Query(x, UpDirections(2)).features;
  // Equally similar to both spheres (cos = 0.707 each): both selected without a box.
  Selection both = Selection::FromFeature("either", Basis(1) + Basis(2));
  EXPECT_TRUE(torch::equal(both.Mask(features, x), torch::tensor({true, true})));
  EXPECT_NEAR(both.Probability(features, x)[0].item<float>(), std::sqrt(0.5f), 1e-5);
  Selection left = Selection::FromFeature("either", Basis(1) + Basis(2), SelectionOptions().box({-1, -1, -1, 0, 1, 1}));
  EXPECT_TRUE(torch::equal(left.Mask(features, x), torch::tensor({true, false})));
  EXPECT_EQ(left.Probability(features, x)[1].item<float>(), 0.0f);
  // Without positions (2D), the box cannot be tested.
  EXPECT_TRUE(torch::equal(left.Mask(features, at::Tensor()), torch::tensor({true, true})));
}

TEST(Selection, FeatureQueryIsTheClampedCosine) {
  at::Tensor q = torch::tensor({1.0f, 1.0f, 0.0f});
  at::Tensor features = torch::tensor({{2.0f, 2.0f, 0.0f}, {1.0f, 0.0f, 0.0f}, {-1.0f, -1.0f, 0.0f}, {0.0f, 0.0f, 3.0f}});
  Selection s = Selection::FromFeature("click", q, SelectionOptions().threshold(0.8));
  EXPECT_TRUE(torch::allclose(s.Probability(features, at::Tensor()), torch::tensor({1.0f, std::sqrt(0.5f), 0.0f, 0.0f}),
                              1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(s.Mask(features, at::Tensor()), torch::tensor({true, false, false, false})));
  EXPECT_TRUE(torch::equal(s.WithThreshold(0.5).Mask(features, at::Tensor()), torch::tensor({true, true, false, false})));
  EXPECT_EQ(s.kind(), Selection::Kind::kFeature);
  EXPECT_EQ(s.feature_dim(), 3);
}

TEST(Selection, FollowsTheFeaturesDtypeAndRoundTripsThroughJson) {
  at::Tensor features = torch::randn({32, kFeatureDim});
  Selection s = Selection::FromText("chair", torch::randn({kFeatureDim}), torch::randn({3, kFeatureDim}),
                                    SelectionOptions().temperature(0.05).threshold(0.3).box({-1, -2, -3, 1, 2, 3}));
  at::Tensor x = torch::rand({32, 3}) * 4 - 2;
  at::Tensor p = s.Probability(features, x);
  at::Tensor p64 = s.Probability(features.to(torch::kDouble), x.to(torch::kDouble));
  EXPECT_EQ(p64.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(p64.to(torch::kFloat), p, 1e-5, 1e-6));

  Selection back = Selection::FromJson(nlohmann::json::parse(s.ToJson().dump()), "test");
  EXPECT_EQ(back.label(), "chair");
  EXPECT_EQ(back.kind(), Selection::Kind::kText);
  EXPECT_EQ(back.options().temperature(), 0.05);
  EXPECT_EQ(back.options().box(), s.options().box());
  EXPECT_TRUE(torch::equal(back.Probability(features, x), p));

  Selection click = Selection::FromFeature("click", torch::randn({kFeatureDim}));
  EXPECT_TRUE(torch::equal(Selection::FromJson(click.ToJson(), "test").Probability(features, x),
                           click.Probability(features, x)));
}

TEST(Selection, MaskImageIsHxW) {
  at::Tensor features = torch::zeros({4, 5, kFeatureDim});
  features.index_put_({torch::indexing::Slice(0, 2)}, Basis(1, 2.0));
  features.index_put_({torch::indexing::Slice(2, 4)}, Basis(2));
  at::Tensor image = SelectionMaskImage(SelectSphere1(), features);
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(image.scalar_type(), torch::kFloat);
  EXPECT_GT(image.slice(0, 0, 2).min().item<float>(), 0.99f);
  EXPECT_LT(image.slice(0, 2, 4).max().item<float>(), 0.01f);
}

TEST(Selection, BadInputsGiveClearErrors) {
  EXPECT_THAT(ErrorOf([] { Selection::FromText("a", torch::ones({4}), torch::ones({2, 5})); }),
              HasSubstr("negatives have dimension 5 but the query has 4"));
  EXPECT_THAT(ErrorOf([] { Selection::FromText("a", torch::ones({4}), torch::ones({4})); }),
              HasSubstr("negatives must have 2 dimension(s)"));
  EXPECT_THAT(ErrorOf([] { Selection::FromFeature("a", torch::zeros({4})); }), HasSubstr("zero vector"));
  EXPECT_THAT(ErrorOf([] { Selection::FromFeature("a", torch::ones({4}), SelectionOptions().threshold(1.5)); }),
              HasSubstr("threshold must be in [0, 1), got 1.5"));
  EXPECT_THAT(ErrorOf([] { Selection::FromText("a", torch::ones({4}), torch::ones({1, 4}), SelectionOptions().temperature(0)); }),
              HasSubstr("temperature must be > 0"));
  EXPECT_THAT(ErrorOf([] { Selection::FromFeature("a", torch::ones({4}), SelectionOptions().box({0, 0, 0, 1, 1})); }),
              HasSubstr("box must be empty or 6 values"));
  EXPECT_THAT(ErrorOf([] { Selection::FromFeature("a", torch::ones({4}), SelectionOptions().box({1, 0, 0, 0, 1, 1})); }),
              HasSubstr("box min 1 exceeds max 0 on axis 0"));
  Selection s = Selection::FromFeature("cup", torch::ones({4}));
  EXPECT_THAT(ErrorOf([&] { s.Probability(torch::ones({3, 5}), at::Tensor()); }),
              HasSubstr("selection \"cup\": features have shape [3, 5] but the query has dimension 4"));
  EXPECT_THAT(ErrorOf([&] { s.Probability(at::Tensor(), at::Tensor()); }), HasSubstr("returned no features"));

  nlohmann::json j = SelectSphere1().ToJson();
  j["colour"] = 1;
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "edits.json"); }), HasSubstr("edits.json: unknown key(s) \"colour\""));
  j = SelectSphere1().ToJson();
  j.erase("negatives");
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "sel"); }), HasSubstr("sel: missing required key \"negatives\""));
  j = SelectSphere1().ToJson();
  j["negatives"][1] = std::vector<float>{1, 2};
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "sel"); }),
              HasSubstr("sel: negatives[1] has dimension 2 but \"query\" has 8"));
  j = SelectSphere1().ToJson();
  j["kind"] = "sketch";
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "sel"); }), HasSubstr("key \"kind\" is \"sketch\""));
  j = Selection::FromFeature("f", torch::ones({4})).ToJson();
  j["negatives"] = nlohmann::json::array({{1, 2, 3, 4}});
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "sel"); }), HasSubstr("\"negatives\" is only valid for kind \"text\""));
  j = Selection::FromFeature("f", torch::ones({4})).ToJson();
  j["query"] = std::vector<float>{0, 0, 0, 0};
  EXPECT_THAT(ErrorOf([&] { Selection::FromJson(j, "sel"); }), HasSubstr("sel: feature selection \"f\": query has a zero"));
}

}  // namespace
}  // namespace nerfedit
