// Shared bits of the subcommands: CLI11 parsing that returns an exit code, and small parsers for lists.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace nerfedit {

// Parses argv; returns -1 to continue, or the exit code to return (after --help or a usage error).
int ParseCommandLine(CLI::App& app, int argc, char** argv);

// A number > 0, for option checks. CLI11's PositiveNumber names its range as "0.000000 to 179769313486…" (a
// 300-digit number); this says "--flag: must be > 0, got 0".
CLI::Validator Positive();
// A number >= 0 ("--flag: must be >= 0, got -1").
CLI::Validator NonNegative();

// "1,2,3" -> {1,2,3}; throws naming the flag on a bad number or an empty list.
std::vector<int64_t> ParseIndexList(const std::string& text, const std::string& flag);
// "0.5,-1,2e-3" -> {0.5,-1,0.002}; throws naming the flag on a bad number or an empty list.
std::vector<float> ParseFloatList(const std::string& text, const std::string& flag);
// "a, b,c" -> {"a","b","c"} (items trimmed, empty ones dropped).
std::vector<std::string> SplitList(const std::string& text);

}  // namespace nerfedit
