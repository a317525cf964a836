#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <ctime>
#include <functional>

#include "fields/field_registry.h"
#include "fields/hash_grid_field.h"
#include "fields/nerf_mlp_field.h"
#include "util/error.h"

namespace nerfedit {
namespace {

// Small configs so the generic test stays fast; each kind's defaults are exercised by the specific tests below.
nlohmann::json SmallConfig(const std::string& kind) {
  if (kind == "hash_grid") {
    return {{"aabb", {-1.0, -1.0, -1.0, 1.0, 1.0, 1.0}},
            {"encoding", {{"num_levels", 8}, {"log2_hashmap_size", 14}, {"max_resolution", 256}}}};
  }
  if (kind == "mlp") return {{"num_layers", 4}, {"hidden_dim", 64}, {"skip_layer", 1}, {"position_frequencies", 6}};
  if (kind == "feature_field") {
    return {{"aabb", {-1.0, -1.0, -1.0, 1.0, 1.0, 1.0}},
            {"feature_dim", 16},
            {"radiance", {{"encoding", {{"num_levels", 8}, {"log2_hashmap_size", 14}, {"max_resolution", 256}}}}},
            {"feature_encoding", {{"num_levels", 4}, {"log2_hashmap_size", 12}}}};
  }
  ADD_FAILURE() << "no small config for field kind " << kind;
  return nlohmann::json::object();
}

at::Tensor UnitDirections(int64_t n) { return torch::nn::functional::normalize(torch::randn({n, 3})); }

void CopyState(Field& from, Field& to) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters();
  for (const auto& p : from.named_parameters()) dst[p.key()].copy_(p.value());
  auto dst_buffers = to.named_buffers();
  for (const auto& b : from.named_buffers()) dst_buffers[b.key()].copy_(b.value());
}

// One generic test for every registered field: the contract of field.h.
TEST(Field, EveryRegisteredKindHonoursTheContract) {
  for (const std::string& kind : RegisteredFieldKinds()) {
    SCOPED_TRACE(kind);
    torch::manual_seed(0);
    FieldPtr field = MakeField(kind, SmallConfig(kind));
    EXPECT_EQ(field->Kind(), kind);
    const at::Tensor aabb = field->Aabb();
    ASSERT_EQ(aabb.sizes(), (std::vector<int64_t>{2, 3}));

    const int64_t n = 512;
    const at::Tensor positions = aabb[0] + (aabb[1] - aabb[0]) * torch::rand({n, 3});
    const at::Tensor directions = UnitDirections(n);
    FieldOutputs out = field->Query(positions, directions);
    ASSERT_EQ(out.density.sizes(), (std::vector<int64_t>{n}));
    ASSERT_EQ(out.rgb.sizes(), (std::vector<int64_t>{n, 3}));
    EXPECT_EQ(out.density.scalar_type(), torch::kFloat);
    EXPECT_EQ(out.rgb.scalar_type(), torch::kFloat);
    EXPECT_GE(out.density.min().item<float>(), 0.0f);
    EXPECT_GE(out.rgb.min().item<float>(), 0.0f);
    EXPECT_LE(out.rgb.max().item<float>(), 1.0f);
    EXPECT_TRUE(torch::allclose(field->QueryDensity(positions), out.density));

    // Outside the box the density is zero.
    const at::Tensor outside = aabb[1] + 0.5 + torch::rand({16, 3});
    EXPECT_EQ(field->QueryDensity(outside).abs().max().item<float>(), 0.0f);

    // Every parameter receives a gradient.
    at::Tensor total = out.density.sum() + out.rgb.sum();
    if (out.features.defined()) total = total + out.features.sum();  // feature heads learn from features only
    total.backward();
    for (const auto& p : field->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<float>(), 0.0f) << p.key() << " got no gradient";
    }

    // Config() -> MakeField rebuilds the same architecture; with the state copied it gives the same outputs.
    FieldPtr rebuilt = MakeField(field->Kind(), field->Config());
    EXPECT_EQ(rebuilt->Config(), field->Config());
    ASSERT_EQ(rebuilt->named_parameters().size(), field->named_parameters().size());
    CopyState(*field, *rebuilt);
    torch::NoGradGuard no_grad;
    const FieldOutputs again = rebuilt->Query(positions, directions);
    EXPECT_TRUE(torch::allclose(again.density, out.density.detach()));
    EXPECT_TRUE(torch::allclose(again.rgb, out.rgb.detach()));
  }
}

TEST(Field, RegistryRejectsUnknownKindsAndKeys) {
  try {
    MakeField("nerfacto", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nerfacto"), std::string::npos) << e.what();
  }
  for (const auto& [kind, config, bad] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"hash_grid", {{"hiden_dim", 32}}, "hiden_dim"},
           {"hash_grid", {{"encoding", {{"levels", 4}}}}, "levels"},
           {"mlp", {{"skip", 3}}, "skip"},
           {"feature_field", {{"feature_dims", 3}}, "feature_dims"}}) {
    try {
      MakeField(kind, config);
      FAIL() << "accepted " << config.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(MakeField("hash_grid", {{"aabb", {0, 0, 0, 1, 1}}}), Error);
  EXPECT_THROW(MakeField("hash_grid", {{"aabb", {0, 0, 0, 1, -1, 1}}}), Error);
  EXPECT_THROW(MakeField("mlp", {{"density_activation", "exp"}}), Error);
  EXPECT_NO_THROW(MakeField("mlp", nullptr));
}

TEST(TruncExp, ExpForwardClampedGradient) {
  at::Tensor x = torch::tensor({-2.0f, 0.5f, 14.0f, 20.0f}, torch::requires_grad());
  const at::Tensor y = TruncExp(x);
  EXPECT_TRUE(torch::allclose(y, x.detach().exp()));
  EXPECT_TRUE(torch::isfinite(TruncExp(torch::tensor({100.0f, 1000.0f}))).all().item<bool>());  // float32 exp: inf
  y.sum().backward();
  const at::Tensor expected = torch::tensor({std::exp(-2.0f), std::exp(0.5f), std::exp(14.0f), std::exp(15.0f)});
  EXPECT_TRUE(torch::allclose(x.grad(), expected)) << x.grad();
}

TEST(HashGridField, DefaultArchitectureAndKernelMatchesReference) {
  HashGridField field;  // instant-ngp defaults: 16 levels x 2 features, 64-wide MLPs without bias
  EXPECT_EQ(field->encoding->output_dim(), 32);
  for (const auto& p : field->named_parameters()) EXPECT_EQ(p.key().find("bias"), std::string::npos) << p.key();
  EXPECT_EQ(field->density_mlp->size(), 3u);  // Linear(32,64), ReLU, Linear(64,16)
  EXPECT_EQ(field->color_mlp->size(), 5u);    // Linear(31,64), ReLU, Linear(64,64), ReLU, Linear(64,3)

  nlohmann::json reference_config = field->Config();
  reference_config["encoding"]["implementation"] = "reference";
  FieldPtr reference = MakeField("hash_grid", reference_config);
  {
    torch::NoGradGuard no_grad;
    field->encoding->table.uniform_(-0.5, 0.5);  // non-trivial features
  }
  CopyState(*field, *reference);
  const at::Tensor positions = torch::rand({2000, 3}) * 3.0 - 1.5;
  const at::Tensor directions = UnitDirections(2000);
  const FieldOutputs a = field->Query(positions, directions);
  const FieldOutputs b = reference->Query(positions, directions);
  EXPECT_TRUE(torch::allclose(a.density, b.density, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(a.rgb, b.rgb, 1e-5, 1e-6));
  EXPECT_THROW(field->Query(positions, directions.narrow(0, 0, 10)), Error);
}

TEST(NerfMlpField, ArchitectureFollowsThePaper) {
  NerfMlpField field;
  const int64_t in = 3 + 3 * 2 * 10;  // 63
  ASSERT_EQ(field->trunk->size(), 8u);
  EXPECT_EQ(field->trunk[0]->as<torch::nn::Linear>()->weight.size(1), in);
  EXPECT_EQ(field->trunk[5]->as<torch::nn::Linear>()->weight.size(1), 256 + in);  // skip after layer 4
  EXPECT_EQ(field->view_layer->weight.sizes(), (std::vector<int64_t>{128, 256 + 3 + 3 * 2 * 4}));
  EXPECT_EQ(field->rgb_head->weight.sizes(), (std::vector<int64_t>{3, 128}));

  // Without view directions the colour cannot depend on the direction.
  NerfMlpField no_view(NerfMlpFieldOptions().use_view_dirs(false).num_layers(3).hidden_dim(32).skip_layer(-1));
  const at::Tensor p = torch::rand({8, 3});
  EXPECT_TRUE(torch::allclose(no_view->Query(p, UnitDirections(8)).rgb, no_view->Query(p, UnitDirections(8)).rgb));
  EXPECT_FALSE(torch::allclose(field->Query(p, UnitDirections(8)).rgb, field->Query(p, UnitDirections(8)).rgb));

  NerfMlpField softplus(
      NerfMlpFieldOptions().density_activation("softplus").num_layers(2).hidden_dim(16).skip_layer(-1));
  EXPECT_GT(softplus->QueryDensity(p).min().item<float>(), 0.0f);
}

// Timing, not a check: ./fields_tests --gtest_also_run_disabled_tests --gtest_filter='*Timing*'
// Reports the median wall time and the process CPU time per call (CPU time stays meaningful on a loaded machine).
struct Timing {
  double wall_ms, cpu_ms;
};

double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

Timing Measure(const std::function<void()>& fn, int reps = 5) {
  fn();  // warm-up (allocator, caches)
  std::vector<double> wall;
  const double cpu0 = CpuMs();
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(wall.begin(), wall.end());
  return {wall[wall.size() / 2], (CpuMs() - cpu0) / reps};
}

// Samples as a renderer produces them: 1024 rays through the scene box, 128 ordered samples each.
std::pair<at::Tensor, at::Tensor> RaySamples(int64_t rays, int64_t samples) {
  const at::Tensor origins = torch::nn::functional::normalize(torch::randn({rays, 3})) * 4.0;
  const at::Tensor targets = torch::rand({rays, 3}) - 0.5;
  const at::Tensor dirs = torch::nn::functional::normalize(targets - origins);
  const at::Tensor t = torch::linspace(2.0, 6.0, samples).view({1, samples, 1});
  const at::Tensor positions = (origins.unsqueeze(1) + dirs.unsqueeze(1) * t).reshape({rays * samples, 3});
  return {positions, dirs.unsqueeze(1).expand({rays, samples, 3}).reshape({rays * samples, 3})};
}

TEST(FieldTiming, DISABLED_HashEncodingAndField131072) {
  const int64_t n = 131072;
  const auto [positions, directions] = RaySamples(1024, 128);
  const at::Tensor unit = ((positions + 1.5) / 3.0).clamp(0, 1);
  std::printf("threads=%d (times: median wall / CPU time per call)\n", at::get_num_threads());
  for (const std::string impl : {"cpu_kernel", "reference"}) {
    HashEncoding encoding(HashEncodingOptions().implementation(impl));
    const Timing fwd = Measure([&] { torch::NoGradGuard g; encoding->forward(unit); });
    const at::Tensor upstream = torch::randn({n, 32});
    const Timing both = Measure([&] {
      encoding->zero_grad();
      (encoding->forward(unit) * upstream).sum().backward();
    });
    std::printf("hash encoding %-10s N=%lld: forward %.1f / %.1f ms, forward+backward %.1f / %.1f ms\n",
                impl.c_str(), static_cast<long long>(n), fwd.wall_ms, fwd.cpu_ms, both.wall_ms, both.cpu_ms);
  }
  for (const std::string impl : {"cpu_kernel", "reference"}) {
    nlohmann::json config = HashGridFieldOptions().ToJson();
    config["encoding"]["implementation"] = impl;
    FieldPtr field = MakeField("hash_grid", config);
    const Timing fwd = Measure([&] { torch::NoGradGuard g; field->Query(positions, directions); });
    const Timing both = Measure([&] {
      field->zero_grad();
      const FieldOutputs out = field->Query(positions, directions);
      (out.density.mean() + out.rgb.mean()).backward();
    });
    std::printf("hash_grid field %-10s N=%lld: Query %.1f / %.1f ms, Query+backward %.1f / %.1f ms\n", impl.c_str(),
                static_cast<long long>(n), fwd.wall_ms, fwd.cpu_ms, both.wall_ms, both.cpu_ms);
  }
  if (const char* trace = std::getenv("NERFEDIT_PROFILE_TRACE")) {  // chrome trace of one Query+backward
    FieldPtr field = MakeField("hash_grid", nullptr);
    field->Query(positions, directions);
    torch::autograd::profiler::RecordProfile guard(trace);
    const FieldOutputs out = field->Query(positions, directions);
    (out.density.mean() + out.rgb.mean()).backward();
  }
  {
    FieldPtr field = MakeField("hash_grid", nullptr);
    torch::optim::Adam adam(field->parameters(), torch::optim::AdamOptions(1e-2).eps(1e-15));
    const Timing step = Measure([&] {
      adam.zero_grad();
      const FieldOutputs out = field->Query(positions, directions);
      (out.density.mean() + out.rgb.mean()).backward();
      adam.step();
    });
    std::printf("hash_grid field N=%lld: Query+backward+Adam step %.1f / %.1f ms\n", static_cast<long long>(n),
                step.wall_ms, step.cpu_ms);
  }
}

}  // namespace
}  // namespace nerfedit
