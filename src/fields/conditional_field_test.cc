#include "fields/conditional_field.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fields/code_table.h"
#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

// A conditional field with a closed form: a sphere of radius code[0] in the colour code[1..3].
class CodedSphere : public ConditionalField {
 public:
  FieldOutputs Query(const at::Tensor& x, const at::Tensor& d, const at::Tensor& codes) override {
    return {QueryDensity(x, codes), codes.slice(1, 1, 4).sigmoid(), {}};
  }
  at::Tensor QueryDensity(const at::Tensor& x, const at::Tensor& codes) override {
    return 50 * torch::sigmoid(20 * (codes.select(1, 0) - x.norm(2, 1)));
  }
  int64_t code_dim() const override { return 4; }
  std::string Kind() const override { return "coded_sphere"; }
  nlohmann::json Config() const override { return nlohmann::json::object(); }
  at::Tensor Aabb() const override { return torch::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).view({2, 3}); }
};

TEST(ConditionalField, OneBatchMixesInstancesAndAnInstanceIsAPlainField) {
  auto sphere = std::make_shared<CodedSphere>();
  CodeTable table(CodeTableOptions().num_codes(3).part_dims({1, 3}).init_std(0));
  {
    torch::NoGradGuard no_grad;
    table->codes.copy_(torch::tensor({{0.2f, 2.f, -2.f, -2.f}, {0.6f, -2.f, 2.f, -2.f}, {0.9f, -2.f, -2.f, 2.f}}));
  }
  // Points at radius 0.5 of instances 0, 1, 2 in one batch: only instance 0's small sphere leaves them empty.
  auto x = torch::tensor({{0.5f, 0.f, 0.f}, {0.f, 0.5f, 0.f}, {0.f, 0.f, 0.5f}});
  auto codes = table->Lookup(torch::tensor({0, 1, 2}, torch::kLong));
  FieldOutputs out = sphere->Query(x, x, codes);
  EXPECT_LT(out.density[0].item<float>(), 1.f);
  EXPECT_GT(out.density[1].item<float>(), 40.f);
  EXPECT_GT(out.density[2].item<float>(), 40.f);
  EXPECT_GT(out.rgb[1][1].item<float>(), 0.8f);  // instance 1 is green
  // Instance 2 as a plain Field: the same outputs with its code fixed.
  InstanceFieldImpl instance(sphere, table->codes[2]);
  EXPECT_TRUE(torch::allclose(instance.QueryDensity(x), sphere->QueryDensity(x, codes[2].expand({3, 4}))));
  EXPECT_EQ(instance.Kind(), "instance:coded_sphere");
  EXPECT_THROW(InstanceFieldImpl(sphere, torch::zeros({5})), Error);
}

TEST(CodeTable, LooksUpPartsAndTrainsOnlyTheRowsUsed) {
  torch::manual_seed(0);
  CodeTable table(CodeTableOptions().num_codes(5).part_dims({3, 2}).init_std(0.1).norm_weight(0.5));
  EXPECT_EQ(table->code_dim(), 5);
  auto idx = torch::tensor({1, 3, 1}, torch::kLong);
  auto z = table->Lookup(idx);
  EXPECT_TRUE(torch::equal(table->Part(z, 0), z.slice(1, 0, 3)));
  EXPECT_TRUE(torch::equal(table->Part(z, 1), z.slice(1, 3, 5)));
  EXPECT_NEAR(table->NormPenalty(idx).item<float>(), 0.5f * z.pow(2).sum(1).mean().item<float>(), 1e-7);
  (z.sum() + table->NormPenalty(idx)).backward();
  auto grad_rows = table->codes.grad().abs().sum(1);
  EXPECT_EQ(grad_rows[0].item<float>(), 0.f);
  EXPECT_GT(grad_rows[1].item<float>(), 0.f);
  EXPECT_GT(grad_rows[3].item<float>(), 0.f);
  EXPECT_THROW(table->Lookup(torch::tensor({5}, torch::kLong)), Error);
  EXPECT_THROW(table->Part(z, 2), Error);
  EXPECT_THROW(CodeTableOptions::FromJson({{"num_codes", 0}}), Error);
  EXPECT_THROW(CodeTableOptions::FromJson({{"num_cods", 3}}), Error);
  // Checkpoint round trip.
  testing::TempDir dir;
  torch::save(table, dir / "codes.pt");
  CodeTable loaded(table->options);
  torch::load(loaded, dir / "codes.pt");
  EXPECT_TRUE(torch::equal(loaded->codes, table->codes));
  EXPECT_EQ(CodeTableOptions::FromJson(table->options.ToJson()).ToJson(), table->options.ToJson());
}

}  // namespace
}  // namespace nerfedit
