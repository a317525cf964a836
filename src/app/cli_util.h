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

}  // namespace nerfedit
