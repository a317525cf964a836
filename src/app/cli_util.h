// Shared bits of the subcommands: CLI11 parsing that returns an exit code, and small parsers for lists.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace nerfedit {

// Parses argv; returns -1 to continue, or the exit code to return (after --help or a usage error).
int ParseCommandLine(CLI::App& app, int argc, char** argv);

// "1,2,3" -> {1,2,3}; throws naming the flag on a bad number.
std::vector<int64_t> ParseIndexList(const std::string& text, const std::string& flag);
// "0.5,-1,2e-3" -> {0.5,-1,0.002}; throws naming the flag on a bad number.
std::vector<float> ParseFloatList(const std::string& text, const std::string& flag);
// "a, b,c" -> {"a","b","c"} (items trimmed, empty ones dropped).
std::vector<std::string> SplitList(const std::string& text);

}  // namespace nerfedit
