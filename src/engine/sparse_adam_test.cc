#include "engine/sparse_adam.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <sstream>

#include "util/error.h"

namespace nerfedit {
namespace {

TEST(SparseAdam, EqualsAdamWhenEveryRowHasAGradient) {
  torch::manual_seed(1);
  auto a = torch::randn({300, 2}).requires_grad_();
  auto b = a.detach().clone().requires_grad_();
  torch::optim::Adam adam({a}, torch::optim::AdamOptions(0.01).betas({0.9, 0.99}).eps(1e-15));
  SparseAdam sparse({b}, SparseAdamOptions(0.01).beta1(0.9).beta2(0.99).eps(1e-15));
  for (int step = 0; step < 20; ++step) {
    auto target = torch::randn({300, 2});
    adam.zero_grad();
    (a - target).pow(2).sum().backward();
    adam.step();
    (b - target).pow(2).sum().backward();
    sparse.step();
    EXPECT_FALSE(b.grad().defined());  // released: the next backward hands over a fresh gradient
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  EXPECT_EQ(sparse.last_touched_rows(), 300);
}

TEST(SparseAdam, UpdatesOnlyTouchedRowsAndDecaysTheirMomentsLazily) {
  // Row 0 gets a gradient at steps 1 and 4, row 1 never: row 1 stays put, row 0 matches dense Adam's moments (decayed
  // over the two empty steps) with the update of step 4.
  auto p = torch::zeros({2, 3}).requires_grad_();
  const double lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8;
  SparseAdam sparse({p}, SparseAdamOptions(lr).beta1(b1).beta2(b2).eps(eps));
  auto grad = torch::zeros({2, 3});
  grad[0] = torch::tensor({1.f, -2.f, 0.5f});
  double m[3] = {0, 0, 0}, v[3] = {0, 0, 0}, expected[3] = {0, 0, 0};
  for (int t = 1; t <= 4; ++t) {
    const bool touched = t == 1 || t == 4;
    p.mutable_grad() = touched ? grad.clone() : torch::zeros({2, 3});
    sparse.step();
    for (int c = 0; c < 3; ++c) {  // dense Adam's moments; its parameter moves only on touched steps here
      const double g = touched ? grad[0][c].item<double>() : 0.0;
      m[c] = b1 * m[c] + (1 - b1) * g;
      v[c] = b2 * v[c] + (1 - b2) * g * g;
      if (touched) {
        expected[c] -= lr / (1 - std::pow(b1, t)) * m[c] / (std::sqrt(v[c]) / std::sqrt(1 - std::pow(b2, t)) + eps);
      }
    }
    EXPECT_EQ(sparse.last_touched_rows(), touched ? 1 : 0) << "step " << t;
  }
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(p[0][c].item<double>(), expected[c], 1e-6) << c;
  EXPECT_TRUE(torch::equal(p[1], torch::zeros({3})));
}

TEST(SparseAdam, StateRoundTripsThroughAnArchive) {
  torch::manual_seed(2);
  auto p = torch::randn({50, 2}).requires_grad_();
  auto q = p.detach().clone().requires_grad_();
  SparseAdam first({p}, SparseAdamOptions(0.05));
  for (int i = 0; i < 3; ++i) {
    p.mutable_grad() = torch::randn({50, 2}) * (torch::rand({50, 1}) > 0.5);
    first.step();
  }
  torch::serialize::OutputArchive out;
  first.save(out);
  std::stringstream buffer;
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  {
    torch::NoGradGuard no_grad;
    q.copy_(p);
  }
  SparseAdam second({q}, SparseAdamOptions(0.05));
  second.load(in);
  EXPECT_EQ(second.steps(), 3);
  auto g = torch::randn({50, 2});
  p.mutable_grad() = g.clone();
  q.mutable_grad() = g.clone();
  first.step();
  second.step();
  EXPECT_TRUE(torch::equal(p, q));
  SparseAdam other({torch::zeros({7, 2}).requires_grad_()}, SparseAdamOptions(0.05));
  torch::serialize::InputArchive again;
  std::stringstream copy(buffer.str());
  again.load_from(copy);
  EXPECT_THROW(other.load(again), Error);  // a state of another shape is refused
}

// Found by fuzz/checkpoint_fuzz.cc: a row's last update after the saved step count made the next step index the
// table of decay powers at a negative gap (UBSan: index -33554432 out of bounds).
TEST(SparseAdam, StateWithImpossibleStepsIsRefused) {
  auto write = [](int64_t step, const at::Tensor& last) {
    torch::serialize::OutputArchive out;
    out.write("sparse_adam_step", torch::tensor(step), true);
    out.write("exp_avg.0", torch::zeros({4, 2}), true);
    out.write("exp_avg_sq.0", torch::zeros({4, 2}), true);
    out.write("last_step.0", last, true);
    auto buffer = std::make_shared<std::stringstream>();
    out.save_to(*buffer);
    return buffer;
  };
  auto load = [](const std::shared_ptr<std::stringstream>& buffer) {
    torch::serialize::InputArchive in;
    in.load_from(*buffer);
    SparseAdam adam({torch::zeros({4, 2}).requires_grad_()}, SparseAdamOptions(0.05));
    adam.load(in);
  };
  EXPECT_NO_THROW(load(write(5, torch::tensor({0, 5, 3, 1}, torch::kLong))));
  try {
    load(write(5, torch::tensor({0, 6, 3, 1}, torch::kLong)));
    FAIL() << "a row updated after the last step was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("last updated at steps 0..6, outside [0, 5]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load(write(5, torch::tensor({0, -1, 3, 1}, torch::kLong))), Error);
  EXPECT_THROW(load(write(-2, torch::tensor({0, 0, 0, 0}, torch::kLong))), Error);
}

}  // namespace
}  // namespace nerfedit
