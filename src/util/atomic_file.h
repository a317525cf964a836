// Files are written to a temporary name beside the target and renamed into place: a crash never leaves half a file.
#pragma once
#include <functional>
#include <string>

namespace nerfedit {

// Calls write(tmp_path); on success flushes it to disk and renames it to path (then flushes the folder), on any
// exception removes it and rethrows.
void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// Removes the temporaries (`NAME.tmpPID`) a killed writer left in dir; returns how many. Call only where no other
// process writes into dir (a run folder being resumed).
int RemoveStaleTemporaries(const std::string& dir);

void WriteTextAtomically(const std::string& path, const std::string& text);

std::string ReadTextFile(const std::string& path);

}  // namespace nerfedit
