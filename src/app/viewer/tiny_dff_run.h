// A tiny but real feature-field run for the viewer's tests and browser check (the pattern of methods/dff/dff_test.cc):
// a small CLIP trained on procedural captions, the procedural default scene at 48x48, and a dff run distilled from
// it. About a minute on two CPU cores; reused when `dir` already holds it.
#pragma once
#include <string>

namespace nerfedit {

// Writes dir/clip, dir/scene and dir/run (skipping the parts already there); returns dir/run.
std::string MakeTinyDffRun(const std::string& dir);

}  // namespace nerfedit
