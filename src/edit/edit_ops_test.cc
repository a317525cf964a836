#include "edit/edit_ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "edit/edit_test_util.h"

namespace nerfedit {
namespace {

using ::testing::HasSubstr;
using namespace nerfedit::testing;


void ExpectDensities(Field& field, const at::Tensor& x, std::vector<float> expected) {
  at::Tensor want = torch::tensor(expected);
  EXPECT_TRUE(torch::allclose(field.Query(x, UpDirections(x.size(0))).density, want, 1e-4, 1e-4))
      << field.Query(x, UpDirections(x.size(0))).density;
  // The occupancy grid sees the same edit.
  EXPECT_TRUE(torch::allclose(field.QueryDensity(x), want, 1e-4, 1e-4)) << field.QueryDensity(x);
}

TEST(EditOps, DeleteZeroesOnlyTheSelectedSphere) {
  DeleteField field(Spheres(), SelectSphere1());
  at::Tensor x = Points({{-0.5f, 0, 0}, {-0.3f, 0.1f, 0}, {0.5f, 0, 0}, {0, 0, 0}});
  ExpectDensities(field, x, {0, 0, 20, 0});
  EXPECT_EQ(field.Kind(), "edited");
  EXPECT_EQ(field.Config()["op"], "delete");
  EXPECT_EQ(field.Config()["selection"], SelectSphere1().ToJson());
  EXPECT_TRUE(torch::equal(field.Aabb(), TwoSpheresField().Aabb()));
  // Colour and features pass through.
  FieldOutputs out = field.Query(x, UpDirections(4));
  EXPECT_TRUE(torch::equal(out.rgb, TwoSpheresField().Query(x, UpDirections(4)).rgb));
  EXPECT_TRUE(torch::equal(out.features, TwoSpheresField().Query(x, UpDirections(4)).features));
}

TEST(EditOps, ExtractKeepsOnlyTheSelectedSphere) {
  ExtractField field(Spheres(), SelectSphere1());
  ExpectDensities(field, Points({{-0.5f, 0, 0}, {-0.3f, 0.1f, 0}, {0.5f, 0, 0}, {0.6f, 0, 0}}), {20, 20, 0, 0});
  EXPECT_EQ(field.Config()["op"], "extract");
}

TEST(EditOps, RecolorToATargetKeepsTheLuminanceRatio) {
  const std::vector<float> source = {0.6f, 0.1f, 0.1f}, target = {0.1f, 0.8f, 0.2f};
  RecolorField field(Spheres(), SelectSphere1(), RecolorOptions().mode("color").target(target).source(source));
  at::Tensor x = Points({{-0.7f, 0, 0}, {-0.5f, 0, 0}, {-0.3f, 0, 0}, {0.5f, 0, 0}, {0, 1, 0}});
  at::Tensor before = TwoSpheresField().Query(x, UpDirections(5)).rgb;
  FieldOutputs out = field.Query(x, UpDirections(5));
  at::Tensor s1 = out.rgb.slice(0, 0, 3), old1 = before.slice(0, 0, 3);
  const double ratio = Luminance(torch::tensor(target).view({1, 3})).item<double>() /
                       Luminance(torch::tensor(source).view({1, 3})).item<double>();
  EXPECT_TRUE(torch::allclose(Luminance(s1) / Luminance(old1), torch::full({3}, ratio), 1e-4, 1e-5));
  // The target's hue and saturation, shaded like the original.
  at::Tensor hsv = RgbToHsv(s1), target_hsv = RgbToHsv(torch::tensor(target).view({1, 3}));
  EXPECT_TRUE(torch::allclose(hsv.slice(1, 0, 2), target_hsv.slice(1, 0, 2).expand({3, 2}), 1e-4, 1e-5)) << hsv;
  EXPECT_LT(s1[0][1].item<float>(), s1[2][1].item<float>());  // darker where the red was darker
  EXPECT_TRUE(torch::equal(out.rgb.slice(0, 3), before.slice(0, 3)));  // sphere 2 and background untouched
  EXPECT_TRUE(torch::equal(out.density, TwoSpheresField().Query(x, UpDirections(5)).density));
}

TEST(EditOps, RecolorByHueRotatesHueOnly) {
  RecolorField field(Spheres(), SelectSphere1(), RecolorOptions().mode("hue").degrees(120));
  at::Tensor x = Points({{-0.5f, 0, 0}, {0.5f, 0, 0}});
  at::Tensor rgb = field.Query(x, UpDirections(2)).rgb;
  EXPECT_TRUE(torch::allclose(rgb[0], torch::tensor({0.1f, 0.6f, 0.1f}), 1e-5, 1e-6)) << rgb;
  EXPECT_TRUE(torch::allclose(rgb[1], torch::tensor({0.1f, 0.1f, 0.9f})));
  EXPECT_EQ(field.Config()["degrees"], 120.0);
}

TEST(EditOps, AffineRecolorAppliesTheMapInsideTheSelectionOnly) {
  // Swaps red and blue and lifts green: a map no other mode can express.
  const std::vector<float> matrix = {0, 0, 1, 0, 1, 0, 1, 0, 0}, bias = {0, 0.2f, 0};
  RecolorField field(Spheres(), SelectSphere1(), RecolorOptions().mode("affine").matrix(matrix).bias(bias).prompt("p"));
  at::Tensor x = Points({{-0.5f, 0, 0}, {0.5f, 0, 0}});
  at::Tensor rgb = field.Query(x, UpDirections(2)).rgb;
  at::Tensor before = TwoSpheresField().Query(x, UpDirections(2)).rgb;
  const at::Tensor expected = torch::stack({before[0][2], before[0][1] + 0.2f, before[0][0]}).clamp(0, 1);
  EXPECT_TRUE(torch::allclose(rgb[0], expected, 1e-5, 1e-6)) << rgb << before;
  EXPECT_TRUE(torch::equal(rgb[1], before[1]));  // sphere 2 untouched
  const nlohmann::json config = field.Config();
  EXPECT_EQ(config["mode"], "affine");
  EXPECT_EQ(config["prompt"], "p");
  EXPECT_EQ(config["matrix"].size(), 9u);
  // Out of range on both sides: clamped to [0, 1].
  at::Tensor clamped =
      AffineRecolor(torch::tensor({{0.5f, 0.5f, 0.5f}}), 4 * torch::eye(3), torch::tensor({0.f, -3.f, 0.f}));
  EXPECT_TRUE(torch::allclose(clamped, torch::tensor({{1.0f, 0.0f, 1.0f}})));
  EXPECT_THAT(ErrorOf([] { RecolorOptions().mode("affine").matrix({1, 0, 0}).Check("r"); }),
              HasSubstr("r: key \"matrix\" has 3 values, expected 9"));
  EXPECT_THAT(ErrorOf([] { RecolorOptions().mode("affine").bias({0, NAN, 0}).Check("r"); }),
              HasSubstr("key \"bias\" value nan is not finite"));
}

TEST(EditOps, HsvRoundTripsAndMatchesKnownValues) {
  at::Tensor rgb = torch::rand({256, 3});
  EXPECT_TRUE(torch::allclose(HsvToRgb(RgbToHsv(rgb)), rgb, 1e-5, 1e-6));
  at::Tensor known = RgbToHsv(torch::tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 0.5f, 0.0f}, {0.0f, 0.0f, 1.0f}, {0.4f, 0.4f, 0.4f}}));
  EXPECT_TRUE(torch::allclose(known, torch::tensor({{0.0f, 1.0f, 1.0f}, {1 / 3.0f, 1.0f, 0.5f}, {2 / 3.0f, 1.0f, 1.0f},
                                                    {0.0f, 0.0f, 0.4f}}), 1e-5, 1e-6)) << known;
}

TEST(EditOps, TransformMovesTheSelectedSphere) {
  TransformField field(Spheres(), SelectSphere1(), Transform::Make({0, 1, 0}));
  at::Tensor x = Points({{-0.5f, 1, 0}, {-0.5f, 0, 0}, {0.5f, 0, 0}, {0.5f, 1, 0}, {-0.5f, 1.25f, 0}});
  ExpectDensities(field, x, {20, 0, 20, 0, 20});
  FieldOutputs out = field.Query(x, UpDirections(5));
  EXPECT_TRUE(torch::allclose(out.rgb[0], torch::tensor({0.6f, 0.1f, 0.1f})));
  EXPECT_TRUE(torch::allclose(out.rgb[2], torch::tensor({0.1f, 0.1f, 0.9f})));
  EXPECT_TRUE(torch::equal(out.features[0], Basis(1, 3.0)));
  at::Tensor aabb = field.Aabb();
  EXPECT_FLOAT_EQ(aabb[1][1].item<float>(), 2.5f);  // covers the moved content
  EXPECT_FLOAT_EQ(aabb[0][1].item<float>(), -1.5f);
  EXPECT_EQ(field.Config()["matrix"].size(), 16u);
}

TEST(EditOps, TransformRotatesAndScalesAboutThePivot) {
  // Twice as large, turned 90 degrees about z around sphere 1's centre: the shading along x now runs along y.
  TransformField field(Spheres(), SelectSphere1(), Transform::Make({0, 0, 0}, {0, 0, 1}, 90, 2, {-0.5, 0, 0}));
  at::Tensor x = Points({{-0.5f, 0.4f, 0}, {-0.5f, -0.4f, 0}, {-0.5f, 0, 0.55f}, {-0.5f, 0, 0.65f}, {0.5f, 0, 0}});
  // Density per unit length is divided by the scale (2): optical thickness across the object is kept.
  ExpectDensities(field, x, {10, 10, 10, 0, 20});
  at::Tensor rgb = field.Query(x, UpDirections(5)).rgb;
  EXPECT_NEAR(rgb[0][0].item<float>(), 0.7f, 1e-4);  // from (-0.3, 0, 0)
  EXPECT_NEAR(rgb[1][0].item<float>(), 0.5f, 1e-4);  // from (-0.7, 0, 0)
  EXPECT_TRUE(torch::allclose(rgb[4], torch::tensor({0.1f, 0.1f, 0.9f})));
}

TEST(EditOps, TransformMatrixHelpersAreConsistent) {
  Transform t = Transform::Make({0.1, -0.2, 0.3}, {1, 2, 3}, 37, 1.5, {0.2, 0.1, -0.4});
  EXPECT_NEAR(t.scale(), 1.5, 1e-9);
  at::Tensor x = torch::randn({16, 3});
  EXPECT_TRUE(torch::allclose(t.Apply(t.ApplyInverse(x)), x, 1e-5, 1e-5));
  at::Tensor pivot = torch::tensor({{0.2f, 0.1f, -0.4f}});
  EXPECT_TRUE(torch::allclose(t.Apply(pivot), pivot + torch::tensor({{0.1f, -0.2f, 0.3f}}), 1e-5, 1e-6));
  Transform quarter = Transform::Make({0, 0, 0}, {0, 0, 1}, 90);
  EXPECT_TRUE(torch::allclose(quarter.RotateInverse(torch::tensor({{0.0f, 1.0f, 0.0f}})),
                              torch::tensor({{1.0f, 0.0f, 0.0f}}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(Transform::FromMatrix(t.matrix()).Apply(x), t.Apply(x)));
}

TEST(EditOps, ComposeInsertsTheOtherScenesRegion) {
  ComposeField field(Spheres(), Spheres(), SelectSphere2(), Transform::Make({0, 0, 1}), "runs/other");
  at::Tensor x = Points({{0.5f, 0, 1}, {0.5f, 0, 0}, {-0.5f, 0, 1}, {-0.5f, 0, 0}});
  ExpectDensities(field, x, {20, 20, 0, 20});
  FieldOutputs out = field.Query(x, UpDirections(4));
  EXPECT_TRUE(torch::allclose(out.rgb[0], torch::tensor({0.1f, 0.1f, 0.9f})));
  EXPECT_TRUE(torch::equal(out.features[0], Basis(2, 2.0)));
  EXPECT_FLOAT_EQ(field.Aabb()[1][2].item<float>(), 2.5f);
  EXPECT_EQ(field.Config()["source_run"], "runs/other");

  // Inserted on top of sphere 1: densities add, colour is the density-weighted mix.
  ComposeField overlap(Spheres(), Spheres(), SelectSphere2(), Transform::Make({-1, 0, 0}));
  ExpectDensities(overlap, Points({{-0.5f, 0, 0}, {0.5f, 0, 0}}), {40, 20});
  at::Tensor rgb = overlap.Query(Points({{-0.5f, 0, 0}}), UpDirections(1)).rgb;
  EXPECT_TRUE(torch::allclose(rgb[0], torch::tensor({0.35f, 0.1f, 0.5f}), 1e-5, 1e-6)) << rgb;

  // Scaled insertion: density divided by the scale.
  ComposeField scaled(Spheres(), Spheres(), SelectSphere2(), Transform::Make({0, 0, 1}, {0, 0, 1}, 0, 2, {0.5, 0, 0}));
  ExpectDensities(scaled, Points({{0.5f, 0, 1}, {0.5f, 0, 1.5f}, {0.5f, 0, 1.7f}}), {10, 10, 0});
}

TEST(EditOps, WrappersRegisterTheirFieldsAndRejectPlainFields) {
  DeleteField field(Spheres(), SelectSphere1());
  EXPECT_EQ(field.named_children().size(), 1u);
  EXPECT_TRUE(field.named_children().contains("base"));
  DeleteField plain(std::make_shared<TwoSpheresField>(false), SelectSphere1());
  EXPECT_THAT(ErrorOf([&] { plain.QueryDensity(Points({{0, 0, 0}})); }),
              HasSubstr("delete edit: the field (kind \"two_spheres\") returns no features"));
  EXPECT_THAT(ErrorOf([] { DeleteField(nullptr, SelectSphere1()); }), HasSubstr("the base field is null"));
}

TEST(EditOps, BadTransformsAndColoursGiveClearErrors) {
  EXPECT_THAT(ErrorOf([] { Transform::FromMatrix(std::vector<double>(12, 0.0), "m"); }),
              HasSubstr("m: matrix has 12 values, expected 16"));
  EXPECT_THAT(ErrorOf([] { Transform::FromMatrix({-1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, "m"); }),
              HasSubstr("determinant -1"));
  EXPECT_THAT(ErrorOf([] { Transform::FromMatrix({1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, "m"); }),
              HasSubstr("not a rotation times a uniform scale"));
  EXPECT_THAT(ErrorOf([] { Transform::FromMatrix({1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1}, "m"); }),
              HasSubstr("last row is 0 1 0 1"));
  EXPECT_THAT(ErrorOf([] { Transform::Make({0, 0, 0}, {0, 0, 1}, 0, -1); }), HasSubstr("scale must be > 0, got -1"));
  EXPECT_THAT(ErrorOf([] { RecolorOptions().mode("paint").Check("r"); }), HasSubstr("r: key \"mode\" is \"paint\""));
  EXPECT_THAT(ErrorOf([] { RecolorOptions().target({1, 0}).Check("r"); }), HasSubstr("\"target\" has 2 values"));
  EXPECT_THAT(ErrorOf([] { RecolorOptions().source({0, 0, 0}).Check("r"); }), HasSubstr("\"source\" is black"));
}

TEST(EditOps, MeanSelectedColorAveragesTheRegion) {
  torch::manual_seed(0);
  TwoSpheresField field;
  auto mean = MeanSelectedColor(field, SelectSphere2(), 1 << 15);
  EXPECT_NEAR(mean[0], 0.1f, 1e-5);
  EXPECT_NEAR(mean[2], 0.9f, 1e-5);
  auto red = MeanSelectedColor(field, SelectSphere1(), 1 << 15);
  EXPECT_NEAR(red[0], 0.6f, 0.02f);  // symmetric shading about the centre
  EXPECT_THAT(ErrorOf([&] { MeanSelectedColor(field, SelectSphere1(SelectionOptions().box({1, 1, 1, 1.5, 1.5, 1.5})), 1000); }),
              HasSubstr("covers no dense point"));
}

}  // namespace
}  // namespace nerfedit
