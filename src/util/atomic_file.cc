#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace nerfedit {

namespace {

// Flushes a file (or a folder's entry list) to the disk: a rename is then durable even across a power cut.
void SyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort: a file system without fsync loses durability, not atomicity
  ::fsync(fd);
  ::close(fd);
}

// Fault injection for the crash-safety tests: NERFEDIT_FAULT_KILL_AT_WRITE=N kills this process with SIGKILL on
// its N-th atomic write, after the temporary file is complete and before it is renamed into place.
void MaybeKillForTest() {
  static const long kill_at = [] {
    const char* env = std::getenv("NERFEDIT_FAULT_KILL_AT_WRITE");
    return env == nullptr ? 0L : std::atol(env);
  }();
  static std::atomic<long> writes{0};
  if (kill_at > 0 && ++writes == kill_at) std::raise(SIGKILL);
}

}  // namespace

void WriteAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  try {
    write(tmp);
    SyncPath(tmp, false);
    MaybeKillForTest();
    fs::rename(tmp, target);
    SyncPath(target.has_parent_path() ? target.parent_path().string() : ".", true);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

int RemoveStaleTemporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  static const std::regex temporary(R"(.+\.tmp[0-9]+)");
  int removed = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(error) || !std::regex_match(name, temporary)) continue;
    if (fs::remove(entry.path(), error)) ++removed;
  }
  return removed;
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
