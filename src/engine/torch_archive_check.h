// A torch archive (what torch::serialize::OutputArchive::save_to writes: a zip of pickles and raw tensor data) checked
// against its own zip records before LibTorch reads it.
//
// Why: LibTorch's reader skips the CRC32 checks of its zip library (miniz) for speed, so a checkpoint that was
// damaged after it was written (a bad disk, a partial copy, a bit flip) is either read with silently wrong weights or
// reaches the unpickler and TorchScript's type parser in a state they were not written for. Fuzzing them
// (fuzz/checkpoint_fuzz.cc) made them throw exception types outside c10::Error on the first few hundred inputs.
//
// What it protects against: truncation and corruption - every entry's bytes must match the size and CRC32 the
// writer recorded, inside the file's bounds. What it does not: a file crafted with consistent CRCs still reaches
// LibTorch's deserializer, whose robustness against hostile input is LibTorch's (load checkpoints you trust).
#pragma once
#include <string>

namespace nerfedit {

// Throws nerfedit::Error naming `what` (e.g. "checkpoint run/checkpoint.pt") and the damaged entry when the file is
// not a complete zip archive whose entries (stored or deflated) all match their recorded sizes and CRC32s.
void CheckTorchArchive(const std::string& path, const std::string& what);

}  // namespace nerfedit
