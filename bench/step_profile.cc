// Where a training step's time goes: builds the nerf method from a config, trains it past the occupancy grid's
// warm-up (the steady state every benchmark spends most of its time in), then times the step's phases over N steps
// and writes an autograd-profiler trace of a few more, aggregated by operator (the backward's breakdown).
// Usage: step_profile --data DIR --config cfg.json [--warmup 300] [--steps 40] [--trace-steps 5] [--set key=json]...
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "engine/sparse_adam.h"
#include "methods/nerf/nerf_method.h"
#include "render/compositing.h"
#include "util/json_reader.h"
#include "util/runtime.h"

using namespace nerfedit;

namespace {

struct Phases {
  std::map<std::string, double> ms;  // summed milliseconds per phase
  void Add(const std::string& name, double seconds) { ms[name] += 1000 * seconds; }
};

// One step as NerfMethod::Step runs it, phase by phase.
void TimedStep(NerfMethod& method, const RayDataManager& data, int64_t step, int64_t rays, Phases* phases) {
  NerfModel& model = method.model();
  double t = NowSeconds();
  auto lap = [&](const char* name) {
    const double now = NowSeconds();
    phases->Add(name, now - t);
    t = now;
  };
  model.MaybeUpdateGrid(step);
  lap("occupancy grid update");
  const PixelBatch batch = data.Sample(rays / data.rays_per_pixel());
  lap("batch (pixels, rays)");
  const RayBatch r = batch.rays.To(model.device());
  const RaySamples samples = model.SampleRays(r, true);
  lap("marching");
  auto positions = samples.Positions(r.origins, r.directions);
  auto directions = r.directions.index_select(0, samples.ray_indices);
  FieldOutputs out = model.field()->Query(positions, directions);
  lap("field forward (encode + MLPs)");
  RenderOutputs render = model.CompositeColour(samples, out, batch.background);
  auto loss = torch::mse_loss(batch.PixelMean(render.rgb), batch.target);
  lap("compositing + loss");
  auto slots = method.Optimizers();
  for (auto& s : slots) s.optimizer->zero_grad();
  lap("zero_grad");
  loss.backward();
  lap("backward");
  for (auto& s : slots) {
    s.optimizer->step();
    lap(("optimizer step (" + s.name + ")").c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, config_file, trace = "/tmp/step_profile_trace.json";
  int64_t warmup = 300, steps = 40, trace_steps = 5;
  nlohmann::json sets = nlohmann::json::object();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--data") data = v;
    else if (k == "--config") config_file = v;
    else if (k == "--warmup") warmup = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--trace-steps") trace_steps = std::stoll(v);
    else if (k == "--trace") trace = v;
    else if (k == "--set") sets[v.substr(0, v.find('='))] = nlohmann::json::parse(v.substr(v.find('=') + 1));
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 1; }
  }
  try {
    const int threads = ConfigureThreads();
    nlohmann::json j = NerfConfig::ForField("hash_grid").ToJson();
    const nlohmann::json from_file = ReadJsonFile(config_file);  // named: items() of a temporary dangles
    for (auto& [k, v] : from_file.items()) j[k] = v;
    for (auto& [k, v] : sets.items()) j[k] = v;
    j["data"] = data;
    j["eval_every"] = 0;
    NerfConfig config = NerfConfig::FromJson(j, config_file);
    NerfMethod method(config);
    method.SetTraining(true);
    const double t0 = NowSeconds();
    for (int64_t s = 0; s < warmup; ++s) {
      for (auto& slot : method.Optimizers()) SetLearningRate(*slot.optimizer, config.lr);
      method.Step({s, 0.0, nullptr});
    }
    const int64_t rays = method.batch_rays();
    std::printf("config %s, %d threads, sparse_adam %d: warm-up %lld steps in %.1f s; batch %lld rays, occupancy %.1f%%\n",
                config_file.c_str(), threads, config.sparse_adam, static_cast<long long>(warmup), NowSeconds() - t0,
                static_cast<long long>(rays), 100 * method.model().grid().OccupiedFraction());
    RayDataManager manager(method.train_set(), config.background, config.random_background, method.model().device(),
                           config.train_supersample);
    Phases phases;
    int64_t samples = 0;
    const double t1 = NowSeconds();
    for (int64_t s = 0; s < steps; ++s) TimedStep(method, manager, warmup + s, rays, &phases);
    const double per_step = 1000 * (NowSeconds() - t1) / steps;
    (void)samples;
    std::printf("%-34s %9s %6s\n", "phase", "ms/step", "share");
    std::vector<std::pair<double, std::string>> sorted;
    for (auto& [name, ms] : phases.ms) sorted.emplace_back(ms / steps, name);
    std::sort(sorted.rbegin(), sorted.rend());
    for (auto& [ms, name] : sorted) std::printf("%-34s %9.2f %5.1f%%\n", name.c_str(), ms, 100 * ms / per_step);
    std::printf("%-34s %9.2f\n", "step", per_step);
    for (auto& slot : method.Optimizers()) {
      if (auto* sparse = dynamic_cast<SparseAdam*>(slot.optimizer)) {
        int64_t rows = 0;
        for (const auto& p : sparse->param_groups()[0].params()) rows += p.size(0);
        std::printf("sparse adam (%s): %lld of %lld rows touched by the last step (%.1f%%)\n", slot.name.c_str(),
                    static_cast<long long>(sparse->last_touched_rows()), static_cast<long long>(rows),
                    100.0 * sparse->last_touched_rows() / rows);
      }
    }

    // Operator breakdown (forward and backward) from the autograd profiler.
    {
      torch::autograd::profiler::RecordProfile profile(trace);
      for (int64_t s = 0; s < trace_steps; ++s) TimedStep(method, manager, warmup + steps + s, rays, &phases);
    }
    // Chrome trace events: aggregate complete ("X") events by name.
    nlohmann::json events = ReadJsonFile(trace);
    std::map<std::string, double> by_op;
    for (const auto& e : events) {
      if (e.value("ph", "") == "X") by_op[e.value("name", "?")] += e.value("dur", 0.0) / 1000.0;
    }
    std::vector<std::pair<double, std::string>> ops;
    for (auto& [name, ms] : by_op) ops.emplace_back(ms / trace_steps, name);
    std::sort(ops.rbegin(), ops.rend());
    std::printf("\ntop operators (inclusive ms/step over %lld profiled steps; nested ops are also counted in their "
                "parents):\n", static_cast<long long>(trace_steps));
    for (size_t i = 0; i < std::min<size_t>(ops.size(), 25); ++i) {
      std::printf("  %9.2f  %s\n", ops[i].first, ops[i].second.substr(0, 90).c_str());
    }
    std::printf("step_ms=%.1f rays=%lld\n", per_step, static_cast<long long>(rays));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
