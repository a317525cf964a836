// Data-parallel training across processes and machines on torch's c10d: rank 0 hosts a TCPStore at the master
// ADDR:PORT where the ranks meet, then collectives run over Gloo (CPU tensors; every LibTorch build that nerfedit
// uses has it when Debian's libgloo-dev headers are present) or NCCL (CUDA devices, only in a LibTorch built with it).
// The ProcessGroup is the engine's Collective (engine/data_parallel.h): gradient averaging in one flat buffer per
// dtype, broadcasts, element-wise reductions. c10d's headers stay inside distributed.cc.
#pragma once
#include <torch/arg.h>

#include <memory>
#include <string>
#include <utility>

#include "engine/data_parallel.h"

namespace nerfedit {

struct ProcessGroupOptions {
  TORCH_ARG(int, rank) = 0;
  TORCH_ARG(int, world_size) = 1;
  TORCH_ARG(std::string, master) = "127.0.0.1:29500";  // ADDR:PORT of rank 0's store
  // Meeting the others: a rank that cannot reach the master, or a master that does not see every rank, gives up then.
  TORCH_ARG(double, connect_timeout_s) = 60;
  // One collective: the other ranks wait in their next step while rank 0 evaluates and writes checkpoints, and a
  // rank that failed leaves the others waiting this long before they stop too.
  TORCH_ARG(double, timeout_s) = 600;
  TORCH_ARG(std::string, backend) = "auto";  // gloo | nccl | auto (nccl when device is CUDA and the build has it)
  TORCH_ARG(std::string, device) = "cpu";    // where the method's tensors live (cpu | cuda | auto)

 public:  // (TORCH_ARG leaves the struct private)

  // Throws naming the option and its value: world_size < 1, rank outside [0, world_size), a malformed master.
  void Check() const;
};

// "ADDR:PORT" (ADDR a host name, an IPv4 address or [IPv6]) -> {ADDR, PORT}; throws naming --master.
std::pair<std::string, int> ParseMasterAddress(const std::string& master);

// Whether this build can run more than one process: c10d's Gloo backend was found at configure time.
bool HaveGloo();
bool HaveNccl();

class ProcessGroup : public Collective {
 public:
  // Joins the group (blocks until every rank has joined, or throws after connect_timeout_s). world_size 1 makes a
  // group of one whose collectives do nothing.
  explicit ProcessGroup(const ProcessGroupOptions& options);
  ~ProcessGroup() override;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const override { return options_.rank(); }
  int world_size() const override { return options_.world_size(); }
  void AverageGradients(const std::vector<at::Tensor>& parameters) override;
  void AllReduce(const at::Tensor& values, ReduceOp op) override;
  void Broadcast(const std::vector<at::Tensor>& tensors) override;
  // Blocks until every rank has called it.
  void Barrier();

  DataParallel data_parallel() { return {rank(), world_size(), this}; }
  const std::string& backend() const { return backend_; }  // "gloo", "nccl" or "none" (one process)

 private:
  struct Impl;
  ProcessGroupOptions options_;
  std::string backend_ = "none";
  std::unique_ptr<Impl> impl_;
};

}  // namespace nerfedit
