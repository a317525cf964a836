#include "eval/frechet_distance.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "util/error.h"
#include "util/test_util.h"

namespace nerfedit {
namespace {

GaussianStats Stats(const at::Tensor& mean, const at::Tensor& covariance) {
  return {mean.to(at::kDouble), covariance.to(at::kDouble)};
}

at::Tensor RandomRotation(int64_t d) {
  return std::get<0>(torch::linalg::qr(torch::randn({d, d}, at::kDouble), "reduced"));
}

TEST(FrechetDistance, CommutingCovariancesMatchTheClosedForm) {
  torch::manual_seed(0);
  // S_a = Q diag(a) Q^T, S_b = Q diag(b) Q^T commute: FD = |mu_a - mu_b|^2 + sum (sqrt a_i - sqrt b_i)^2.
  const at::Tensor q = RandomRotation(5);
  const at::Tensor va = torch::tensor({0.5, 1.0, 2.0, 4.0, 0.1}, at::kDouble);
  const at::Tensor vb = torch::tensor({1.5, 0.2, 2.0, 1.0, 0.9}, at::kDouble);
  const at::Tensor ma = torch::randn({5}, at::kDouble), mb = torch::randn({5}, at::kDouble);
  const double expected = (ma - mb).pow(2).sum().item<double>() + (va.sqrt() - vb.sqrt()).pow(2).sum().item<double>();
  const double fd = FrechetDistance(Stats(ma, q.matmul(torch::diag(va)).matmul(q.t())),
                                    Stats(mb, q.matmul(torch::diag(vb)).matmul(q.t())));
  EXPECT_NEAR(fd, expected, 1e-9 * std::max(1.0, expected));
  EXPECT_NEAR(FrechetDistance(Stats(ma, torch::diag(va)), Stats(ma, torch::diag(va))), 0.0, 1e-10);
}

TEST(FrechetDistance, NonCommutingTwoByTwoMatchesTheClosedForm) {
  // For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); M = S_a^1/2 S_b S_a^1/2 has det = det S_a det S_b and
  // tr M = tr(S_a S_b).
  const at::Tensor sa = torch::tensor({{2.0, 0.6}, {0.6, 1.0}}, at::kDouble);
  const at::Tensor sb = torch::tensor({{0.5, -0.3}, {-0.3, 1.5}}, at::kDouble);
  const at::Tensor ma = torch::tensor({1.0, -2.0}, at::kDouble), mb = torch::tensor({0.5, 0.5}, at::kDouble);
  const double tr_m = sa.matmul(sb).trace().item<double>();
  const double det_m = torch::linalg::det(sa).item<double>() * torch::linalg::det(sb).item<double>();
  const double expected = (ma - mb).pow(2).sum().item<double>() + sa.trace().item<double>() +
                          sb.trace().item<double>() - 2 * std::sqrt(tr_m + 2 * std::sqrt(det_m));
  EXPECT_NEAR(FrechetDistance(Stats(ma, sa), Stats(mb, sb)), expected, 1e-10);
}

TEST(FrechetDistance, SamplesOfKnownGaussiansApproachTheirDistance) {
  torch::manual_seed(1);
  const int64_t n = 40000, d = 4;
  const at::Tensor la = torch::randn({d, d}, at::kDouble) * 0.7, lb = torch::randn({d, d}, at::kDouble) * 0.5;
  const at::Tensor ma = torch::randn({d}, at::kDouble), mb = torch::randn({d}, at::kDouble);
  const at::Tensor a = torch::randn({n, d}, at::kDouble).matmul(la.t()) + ma;
  const at::Tensor b = torch::randn({n, d}, at::kDouble).matmul(lb.t()) + mb;
  const double truth = FrechetDistance(Stats(ma, la.matmul(la.t())), Stats(mb, lb.matmul(lb.t())));
  ASSERT_GT(truth, 0.5);
  EXPECT_NEAR(FrechetDistance(a.to(at::kFloat), b.to(at::kFloat)), truth, 0.05 * truth);
  // Two samples of one Gaussian: close to 0, far below the distance between different ones.
  const at::Tensor a2 = torch::randn({n, d}, at::kDouble).matmul(la.t()) + ma;
  EXPECT_LT(FrechetDistance(a, a2), 0.02 * truth);
}

TEST(FrechetDistance, SymmetricSqrtSquaresBack) {
  torch::manual_seed(2);
  const at::Tensor l = torch::randn({6, 6}, at::kDouble);
  const at::Tensor s = l.matmul(l.t());
  const at::Tensor r = SymmetricSqrt(s);
  EXPECT_TRUE(torch::allclose(r.matmul(r), s, 1e-8, 1e-8));
}

TEST(FrechetDistance, BadShapesGetClearErrors) {
  EXPECT_NE(ErrorOf([] {
              FrechetDistance(torch::randn({1, 3}), torch::randn({4, 3}));
            }).find("N >= 2"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] {
              FrechetDistance(torch::randn({5, 3}), torch::randn({5, 4}));
            }).find("same D"),
            std::string::npos);
  at::Tensor bad = torch::randn({5, 3});
  bad[0][0] = NAN;
  EXPECT_NE(ErrorOf([&] { FrechetDistance(bad, torch::randn({5, 3})); }).find("NaN"), std::string::npos);
}

}  // namespace
}  // namespace nerfedit
