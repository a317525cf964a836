// Files are written to a temporary name beside the target and renamed into place: a crash never leaves half a file.
#pragma once
#include <functional>
#include <string>

namespace nerfedit {

// Calls write(tmp_path); on success renames tmp_path to path, on any exception removes it and rethrows.
void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

void WriteTextAtomically(const std::string& path, const std::string& text);

std::string ReadTextFile(const std::string& path);

}  // namespace nerfedit
