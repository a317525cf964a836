// Checkpoints (RUN/checkpoint.pt, a torch archive): the fuzzer's bytes replace the checkpoint of a real tiny run
// (fuzz_run.h), which is then read the two ways nerfedit reads one: to render (`nerfedit render RUN`, the viewer:
// LoadNerfRun, then one small view is rendered from the loaded weights) and to resume training (`--resume`:
// LoadCheckpoint into a freshly built NerfMethod with its optimizers, then one training step).
// Each input is read twice: as it is (almost every mutation is then refused by the zip CRC check,
// engine/torch_archive_check.h), and with the CRC32s of its raw tensor entries (".../data/N") recomputed, so that
// mutated weights, optimizer state, occupancy grid and batch size reach our code after LibTorch's reader. The pickles
// and TorchScript type definitions keep their recorded CRCs: a file crafted there is LibTorch's to withstand, not
// ours (with them repaired too, LibTorch 1.13's importer crashed within a minute, SEGV in
// ScriptTypeParser::parseClassConstant; the CRC check refuses the same bytes when they come from damage).
// NERFEDIT_FUZZ_SEED_OUT=DIR writes the tiny run's own checkpoint there (how fuzz/corpus/checkpoint was made).
#include <torch/torch.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/run_folder.h"
#include "fuzz/fuzz_run.h"
#include "methods/nerf/nerf_run.h"

namespace {

using namespace nerfedit;

uint64_t Le(const std::vector<uint8_t>& b, uint64_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[at + i];
  return v;
}

void PutLe32(std::vector<uint8_t>* b, uint64_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*b)[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Rewrites the CRC32 of every stored tensor-data entry (in its local and central headers) to match its bytes. Torch
// archives are small-offset zips here (the seed is ~40 KB), so the 32-bit fields are enough; anything unparsable is
// left as it is.
std::vector<uint8_t> WithRepairedCrcs(std::vector<uint8_t> b) {
  const uint64_t n = b.size();
  if (n < 22) return b;
  uint64_t end = n;
  for (uint64_t i = n - 22 + 1; i-- > 0 && n - i < 22 + 0xffff;) {
    if (Le(b, i, 4) == 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end == n) return b;
  uint64_t entries = Le(b, end + 10, 2), at = Le(b, end + 16, 4);
  for (uint64_t e = 0; e < entries && at + 46 <= n && Le(b, at, 4) == 0x02014b50; ++e) {
    const uint64_t size = Le(b, at + 20, 4), local = Le(b, at + 42, 4), name_len = Le(b, at + 28, 2);
    const uint64_t next = at + 46 + name_len + Le(b, at + 30, 2) + Le(b, at + 32, 2);
    const std::string name = next <= n ? std::string(b.begin() + at + 46, b.begin() + at + 46 + name_len) : "";
    const bool tensor_data = name.find("/data/") != std::string::npos && name.find(".pkl") == std::string::npos;
    if (tensor_data && Le(b, at + 10, 2) == 0 && local + 30 <= n && Le(b, local, 4) == 0x04034b50) {
      const uint64_t data = local + 30 + Le(b, local + 26, 2) + Le(b, local + 28, 2);
      if (data <= n && size <= n - data) {
        const uint32_t crc = static_cast<uint32_t>(crc32(0L, b.data() + data, static_cast<uInt>(size)));
        PutLe32(&b, at + 16, crc);
        PutLe32(&b, local + 14, crc);
      }
    }
    at = next;
  }
  return b;
}

void ReadAsNerfedit(const std::string& dir, const std::string& path) {
  fuzz::ExpectReadOrRefused([&] {
    auto model = LoadNerfRun(dir, "cpu");
    model->Render(model->TrainingCameras().front());
  });
  fuzz::ExpectReadOrRefused([&] {
    NerfMethod method(fuzz::TinyNerfRun().config);
    LoadCheckpoint(path, method, method.Optimizers());
    method.SetTraining(true);
    method.Step(StepContext{});
  });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  if (const char* out = std::getenv("NERFEDIT_FUZZ_SEED_OUT")) {
    std::filesystem::copy_file(fuzz::TinyNerfRun().dir + "/checkpoint.pt", std::string(out) + "/tiny_nerf.pt",
                               std::filesystem::copy_options::overwrite_existing);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::CopyOfTinyRun("checkpoint_run");
  const std::string path = fuzz::WriteInput("checkpoint_run/checkpoint.pt", data, size);
  ReadAsNerfedit(dir, path);
  const std::vector<uint8_t> repaired = WithRepairedCrcs(std::vector<uint8_t>(data, data + size));
  fuzz::WriteInput("checkpoint_run/checkpoint.pt", repaired.data(), repaired.size());
  ReadAsNerfedit(dir, path);
  return 0;
}
