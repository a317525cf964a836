#include "util/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace nerfedit {

void WriteAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  try {
    write(tmp);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void WriteTextAtomically(const std::string& path, const std::string& text) {
  WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    NE_CHECK(out.good(), "failed writing ", tmp);
  });
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NE_CHECK(in.good(), "cannot open ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace nerfedit
