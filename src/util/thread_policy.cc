#include "util/thread_policy.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/engine.h>

#include <algorithm>

#include "util/runtime.h"

#ifdef NERFEDIT_HAVE_OPENBLAS
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);
#endif

namespace nerfedit {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

thread_local int pinned_depth = 0;

// A network's part of a backward pass: entered when the gradient reaches its outputs, left when it has passed its
// inputs (or backward() ends). Regions may overlap (two towers in one loss); the setting outside them all is saved
// when the first is entered and restored when the last is left. Autograd runs CPU work on the thread that called
// backward(), hence thread_local.
struct BackwardRegion : torch::CustomClassHolder {
  ThreadSetting setting;
  bool inside = false;
};
thread_local int regions_inside = 0;
thread_local ThreadSetting outside_regions;

void LeaveRegion(BackwardRegion& region) {
  if (!region.inside) return;
  region.inside = false;
  if (--regions_inside == 0) ApplyThreads(outside_regions);
}

void EnterRegion(const c10::intrusive_ptr<BackwardRegion>& region) {
  if (region->inside || ThreadsPinned()) return;
  region->inside = true;
  if (regions_inside++ == 0) outside_regions = CurrentThreads();
  ApplyThreads(region->setting);
  // backward() may never pass the inputs (none needs a gradient): leave at its end at the latest.
  torch::autograd::Engine::get_default_engine().queue_callback([region] { LeaveRegion(*region); });
}

c10::intrusive_ptr<BackwardRegion> RegionOf(AutogradContext* ctx) {
  return c10::static_intrusive_pointer_cast<BackwardRegion>(ctx->saved_data["region"].toCapsule());
}

// Identity on tensors; its backward enters (kEnter) or leaves the region.
template <bool kEnter>
struct RegionBoundary : torch::autograd::Function<RegionBoundary<kEnter>> {
  static variable_list forward(AutogradContext* ctx, at::TensorList xs,
                               const c10::intrusive_ptr<torch::CustomClassHolder>& region) {
    ctx->saved_data["region"] = c10::IValue::make_capsule(region);
    ctx->set_materialize_grads(false);
    // Copies, not the inputs themselves: autograd would return views, which callers could not modify in place.
    variable_list out;
    for (const at::Tensor& x : xs) out.push_back(x.defined() ? x.clone() : x);
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (kEnter) {
      EnterRegion(RegionOf(ctx));
    } else {
      LeaveRegion(*RegionOf(ctx));
    }
    grads.emplace_back();  // the region argument
    return grads;
  }
};

}  // namespace

bool SetBlasThreads(int threads) {
#ifdef NERFEDIT_HAVE_OPENBLAS
  openblas_set_num_threads(threads < 1 ? 1 : threads);
  return true;
#else
  (void)threads;
  return false;
#endif
}

int GetBlasThreads() {
#ifdef NERFEDIT_HAVE_OPENBLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

ThreadSetting CurrentThreads() { return {GetBlasThreads(), at::get_num_threads()}; }

void ApplyThreads(const ThreadSetting& setting) {
  const ThreadSetting now = CurrentThreads();
  if (setting.blas != now.blas) SetBlasThreads(setting.blas);
  if (setting.torch != now.torch) at::set_num_threads(setting.torch);
}

ThreadSetting PolicyThreads(ThreadWork work, double macs, int cores) {
  const ThreadSetting kernels{1, cores};
  switch (work) {
    case ThreadWork::kKernels:
      return kernels;
    case ThreadWork::kMatmul:
      return macs >= kMatmulMinMacs ? ThreadSetting{cores, 1} : kernels;
    case ThreadWork::kConv:
      return kernels;
  }
  return kernels;
}

ThreadPolicyScope::ThreadPolicyScope(ThreadWork work, double macs) {
  if (ThreadsPinned()) return;
  const int cores = ConfigureThreads();
  setting_ = PolicyThreads(work, macs, cores);
  if (setting_ == PolicyThreads(ThreadWork::kKernels, 0.0, cores)) return;  // the process default: nothing to do
  active_ = true;
  saved_ = CurrentThreads();
  ApplyThreads(setting_);
  auto region = c10::make_intrusive<BackwardRegion>();
  region->setting = setting_;
  region_ = region;
}

ThreadPolicyScope::~ThreadPolicyScope() {
  if (active_) ApplyThreads(saved_);
}

std::vector<at::Tensor> ThreadPolicyScope::Output(const std::vector<at::Tensor>& ys) const {
  const bool any_grad = std::any_of(ys.begin(), ys.end(), [](const at::Tensor& y) { return y.requires_grad(); });
  if (!active_ || !at::GradMode::is_enabled() || !any_grad) return ys;
  return RegionBoundary<true>::apply(at::TensorList(ys), region_);
}

at::Tensor ThreadPolicyScope::Output(const at::Tensor& y) const { return Output(std::vector<at::Tensor>{y})[0]; }

at::Tensor ThreadPolicyScope::Input(const at::Tensor& x) const {
  if (!active_ || !at::GradMode::is_enabled() || !x.requires_grad()) return x;
  return RegionBoundary<false>::apply(at::TensorList(x), region_)[0];
}

ScopedThreads::ScopedThreads(int blas, int torch) : saved_(CurrentThreads()) {
  ApplyThreads({blas, torch});
  ++pinned_depth;
}

ScopedThreads::~ScopedThreads() {
  --pinned_depth;
  ApplyThreads(saved_);
}

bool ThreadsPinned() { return pinned_depth > 0; }

}  // namespace nerfedit
