#include "engine/distributed.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>

#include "util/error.h"

// c10d's headers hide each backend behind USE_C10D_<BACKEND>. Debian's LibTorch config defines USE_C10D_GLOO for
// every target, but ProcessGroupGloo.hpp includes Gloo's own headers (libgloo-dev): whether CMake found them decides.
#include "engine/distributed_config.h"
#if NERFEDIT_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#else
#undef USE_C10D_GLOO
#endif
#if NERFEDIT_HAVE_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#else
#undef USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace nerfedit {

namespace {

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

c10d::ReduceOp ToC10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return c10d::ReduceOp::SUM;
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
  }
  NE_FAIL("unknown reduce op");
}

// Tensors grouped by dtype, so that each group travels as one flat buffer (one collective instead of one per
// parameter: a hash-grid field has ~20 parameter tensors, and each collective costs a round trip).
template <typename Get>
std::map<at::ScalarType, std::vector<int64_t>> GroupByDtype(const std::vector<at::Tensor>& tensors, Get get) {
  std::map<at::ScalarType, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < static_cast<int64_t>(tensors.size()); ++i) groups[get(tensors[i]).scalar_type()].push_back(i);
  return groups;
}

}  // namespace

void ProcessGroupOptions::Check() const {
  NE_CHECK(world_size() >= 1, "--world-size must be at least 1, got ", world_size());
  NE_CHECK(rank() >= 0 && rank() < world_size(), "--rank ", rank(), " is out of range: ranks of --world-size ",
           world_size(), " are 0 to ", world_size() - 1);
  NE_CHECK(connect_timeout_s() > 0, "connect_timeout_s must be > 0, got ", connect_timeout_s());
  NE_CHECK(timeout_s() > 0, "timeout_s must be > 0, got ", timeout_s());
  NE_CHECK(backend() == "auto" || backend() == "gloo" || backend() == "nccl", "backend must be gloo, nccl or auto, got \"",
           backend(), "\"");
  if (world_size() > 1) ParseMasterAddress(master());
}

std::pair<std::string, int> ParseMasterAddress(const std::string& master) {
  static const std::regex pattern(R"(^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$)");
  std::smatch m;
  NE_CHECK(std::regex_match(master, m, pattern), "--master \"", master,
           "\" is not ADDR:PORT (e.g. 127.0.0.1:29500 or node0:29500)");
  std::string host = m[1];
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::stoi(m[2]);
  NE_CHECK(port >= 1 && port <= 65535, "--master \"", master, "\": port ", port, " is not in [1, 65535]");
  return {host, port};
}

bool HaveGloo() {
#ifdef USE_C10D_GLOO
  return true;
#else
  return false;
#endif
}

bool HaveNccl() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  c10::Device device = c10::kCPU;  // where collective buffers live: CPU for Gloo, the GPU for NCCL
};

ProcessGroup::ProcessGroup(const ProcessGroupOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  options_.Check();
  if (options_.world_size() == 1) return;
  const auto [host, port] = ParseMasterAddress(options_.master());
  const bool cuda = options_.device() == "cuda" || (options_.device() == "auto" && at::hasCUDA());
  backend_ = options_.backend() == "auto" ? (cuda && HaveNccl() ? "nccl" : "gloo") : options_.backend();
  NE_CHECK(backend_ != "gloo" || HaveGloo(),
           "data-parallel training needs c10d's Gloo backend, which this build lacks: install Debian's libgloo-dev "
           "and re-run cmake (the Gloo headers are looked for at configure time)");
  NE_CHECK(backend_ != "nccl" || HaveNccl(), "backend nccl: this LibTorch build has no NCCL (use gloo)");
  impl_->device = backend_ == "nccl" ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);

  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(port);
  store_options.isServer = options_.rank() == 0;
  store_options.numWorkers = options_.world_size();
  store_options.waitWorkers = true;
  store_options.timeout = Millis(options_.connect_timeout_s());
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    const std::string first_line = what.substr(0, what.find('\n'));
    if (options_.rank() == 0) {
      NE_FAIL("rank 0 could not host the master store on ", options_.master(), " or not all ", options_.world_size(),
              " ranks joined within ", options_.connect_timeout_s(), " s (is the port free? are the other ranks "
              "started with the same --master and --world-size?): ", first_line);
    }
    NE_FAIL("rank ", options_.rank(), " could not reach the master ", options_.master(), " within ",
            options_.connect_timeout_s(), " s (is rank 0 running, and is the address reachable from here?): ",
            first_line);
  }
  try {
    if (backend_ == "gloo") {
#ifdef USE_C10D_GLOO
      auto gloo = c10d::ProcessGroupGloo::Options::create(Millis(options_.timeout_s()));
      // Loopback masters keep the whole group on this machine; otherwise bind where this host's name resolves to
      // (GLOO_SOCKET_IFNAME picks an interface instead, as in PyTorch).
      if (IsLoopback(host)) {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      } else {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      gloo->threads = 1;  // one flat buffer per collective: more threads would only compete with training
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options_.rank(),
                                                                 options_.world_size(), gloo);
#endif
    } else {
#ifdef USE_C10D_NCCL
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = Millis(options_.timeout_s());
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, options_.rank(),
                                                                 options_.world_size(), nccl);
#endif
    }
  } catch (const nerfedit::Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    NE_FAIL("rank ", options_.rank(), ": the ", backend_, " process group over ", options_.master(),
            " failed to connect: ", what.substr(0, what.find('\n')));
  }
  NE_CHECK(impl_->group, "no process group was made for backend ", backend_);
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::AverageGradients(const std::vector<at::Tensor>& parameters) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters) {
    // Zeros where this rank's batch did not reach a parameter: every rank must send the same buffer layout.
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    NE_CHECK(!p.grad().is_sparse(), "data-parallel training: sparse gradients are not supported");
  }
  const auto groups = GroupByDtype(parameters, [](const at::Tensor& p) { return p.grad(); });
  for (const auto& [dtype, indices] : groups) {
    std::vector<at::Tensor> flat;
    flat.reserve(indices.size());
    for (int64_t i : indices) flat.push_back(parameters[i].grad().reshape({-1}).to(impl_->device));
    std::vector<at::Tensor> buffer = {at::cat(flat)};
    impl_->group->allreduce(buffer)->wait();
    buffer[0].div_(world_size());
    int64_t offset = 0;
    for (int64_t i : indices) {
      at::Tensor grad = parameters[i].grad();
      const int64_t n = grad.numel();
      grad.copy_(buffer[0].slice(0, offset, offset + n).view_as(grad));
      offset += n;
    }
  }
}

void ProcessGroup::AllReduce(const at::Tensor& values, ReduceOp op) {
  if (world_size() == 1) return;
  NE_CHECK(values.scalar_type() != at::kBool, "AllReduce: bool tensors are not supported (reduce uint8)");
  std::vector<at::Tensor> buffer = {values.to(impl_->device).contiguous().clone()};
  c10d::AllreduceOptions options;
  options.reduceOp = ToC10d(op);
  impl_->group->allreduce(buffer, options)->wait();
  torch::NoGradGuard no_grad;
  values.copy_(buffer[0]);
}

void ProcessGroup::Broadcast(const std::vector<at::Tensor>& tensors) {
  if (world_size() == 1) return;
  torch::NoGradGuard no_grad;
  // Bool travels as uint8 (Gloo has no bool type).
  auto wire = [](const at::Tensor& t) { return t.scalar_type() == at::kBool ? at::kByte : t.scalar_type(); };
  std::map<at::ScalarType, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < static_cast<int64_t>(tensors.size()); ++i) groups[wire(tensors[i])].push_back(i);
  for (const auto& [dtype, indices] : groups) {
    std::vector<at::Tensor> flat;
    for (int64_t i : indices) flat.push_back(tensors[i].reshape({-1}).to(impl_->device, dtype));
    std::vector<at::Tensor> buffer = {at::cat(flat)};
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    impl_->group->broadcast(buffer, options)->wait();
    int64_t offset = 0;
    for (int64_t i : indices) {
      const at::Tensor& t = tensors[i];
      const int64_t n = t.numel();
      t.copy_(buffer[0].slice(0, offset, offset + n).view(t.sizes()));
      offset += n;
    }
  }
}

void ProcessGroup::Barrier() {
  if (world_size() == 1) return;
  impl_->group->barrier()->wait();
}

}  // namespace nerfedit
