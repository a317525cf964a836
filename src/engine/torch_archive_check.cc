#include "engine/torch_archive_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <vector>

#include "util/error.h"

namespace nerfedit {

namespace {

// Zip record signatures and fixed sizes (PKWARE APPNOTE 4.3).
constexpr uint32_t kEndOfCentralDir = 0x06054b50, kZip64EndLocator = 0x07064b50, kZip64End = 0x06064b50;
constexpr uint32_t kCentralHeader = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint64_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56, kCentralSize = 46, kLocalSize = 30;
constexpr uint64_t kMaxComment = 0xffff;

uint64_t Le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class ArchiveFile {
 public:
  ArchiveFile(const std::string& path, const std::string& what) : what_(what), in_(path, std::ios::binary) {
    NE_CHECK(in_, what_, " cannot be opened");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  uint64_t size() const { return size_; }

  // `count` bytes at `offset`, which must lie inside the file (else: "truncated" naming `record`).
  std::vector<unsigned char> Read(uint64_t offset, uint64_t count, const std::string& record) {
    NE_CHECK(offset <= size_ && count <= size_ - offset, what_, " is truncated or damaged: its ", record,
             " lies outside the file (", size_, " bytes)");
    std::vector<unsigned char> bytes(count);
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
    NE_CHECK(static_cast<uint64_t>(in_.gcount()) == count, what_, " could not be read at byte ", offset);
    return bytes;
  }

  // CRC32 and length of the uncompressed bytes of an entry's data at [offset, offset + compressed): stored (0) or
  // deflated (8). Inflating stops past `expected_size` so a damaged length cannot make it run away.
  void Measure(uint64_t offset, uint64_t compressed, int method, uint64_t expected_size, const std::string& name,
               uint32_t* crc, uint64_t* size) {
    NE_CHECK(offset <= size_ && compressed <= size_ - offset, what_, " is truncated or damaged: entry \"", name, "\" (",
             compressed, " bytes at ", offset, ") lies outside the file (", size_, " bytes)");
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    uLong c = crc32(0L, Z_NULL, 0);
    z_stream z{};
    if (method == 8) NE_CHECK(inflateInit2(&z, -MAX_WBITS) == Z_OK, "zlib: inflateInit2 failed");
    uint64_t left = compressed, produced = 0;
    bool ended = method != 8;
    try {
      while (left > 0) {
        const uint64_t n = std::min<uint64_t>(left, chunk_.size());
        in_.read(reinterpret_cast<char*>(chunk_.data()), static_cast<std::streamsize>(n));
        NE_CHECK(static_cast<uint64_t>(in_.gcount()) == n, what_, " could not be read at byte ", offset);
        left -= n;
        if (method != 8) {
          c = crc32(c, chunk_.data(), static_cast<uInt>(n));
          produced += n;
          continue;
        }
        z.next_in = chunk_.data();
        z.avail_in = static_cast<uInt>(n);
        while (z.avail_in > 0 && !ended) {
          z.next_out = out_.data();
          z.avail_out = static_cast<uInt>(out_.size());
          const int status = inflate(&z, Z_NO_FLUSH);
          NE_CHECK(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, what_, " is damaged: entry \"",
                   name, "\" does not inflate (zlib status ", status, ")");
          const uint64_t got = out_.size() - z.avail_out;
          c = crc32(c, out_.data(), static_cast<uInt>(got));
          produced += got;
          NE_CHECK(produced <= expected_size, what_, " is damaged: entry \"", name, "\" inflates past its recorded ",
                   expected_size, " bytes");
          ended = status == Z_STREAM_END;
          if (status == Z_BUF_ERROR && got == 0) break;
        }
      }
    } catch (...) {
      if (method == 8) inflateEnd(&z);
      throw;
    }
    if (method == 8) inflateEnd(&z);
    NE_CHECK(ended, what_, " is truncated or damaged: entry \"", name, "\" ends inside its compressed data");
    *crc = static_cast<uint32_t>(c);
    *size = produced;
  }

 private:
  const std::string what_;
  std::ifstream in_;
  uint64_t size_ = 0;
  std::vector<unsigned char> chunk_ = std::vector<unsigned char>(1 << 20), out_ = std::vector<unsigned char>(1 << 20);
};

struct CentralDirectory {
  uint64_t entries = 0, size = 0, offset = 0;
};

CentralDirectory FindCentralDirectory(ArchiveFile& file, const std::string& what) {
  const uint64_t n = file.size();
  NE_CHECK(n >= kEndSize, what, " is truncated or not a torch archive (", n, " bytes)");
  const uint64_t tail_size = std::min(n, kEndSize + kMaxComment);
  const std::vector<unsigned char> tail = file.Read(n - tail_size, tail_size, "end");
  int64_t end = -1;  // the last end-of-central-directory record whose comment reaches exactly to the file's end
  for (int64_t i = static_cast<int64_t>(tail_size - kEndSize); i >= 0; --i) {
    if (Le(&tail[i], 4) == kEndOfCentralDir && i + kEndSize + Le(&tail[i + 20], 2) == tail_size) {
      end = i;
      break;
    }
  }
  NE_CHECK(end >= 0, what, " is truncated or not a torch archive (no zip end record)");
  const unsigned char* e = &tail[end];
  CentralDirectory cd{Le(e + 10, 2), Le(e + 12, 4), Le(e + 16, 4)};
  const uint64_t end_offset = n - tail_size + static_cast<uint64_t>(end);
  if (end_offset >= kLocatorSize) {
    const std::vector<unsigned char> locator = file.Read(end_offset - kLocatorSize, kLocatorSize, "zip64 locator");
    if (Le(locator.data(), 4) == kZip64EndLocator) {
      const std::vector<unsigned char> z = file.Read(Le(&locator[8], 8), kZip64EndSize, "zip64 end record");
      NE_CHECK(Le(z.data(), 4) == kZip64End, what, " is damaged: no zip64 end record where its locator points");
      cd = {Le(&z[32], 8), Le(&z[40], 8), Le(&z[48], 8)};
    }
  }
  NE_CHECK(cd.entries > 0, what, " is damaged or not a torch archive: the zip holds no entries");
  NE_CHECK(cd.entries <= cd.size / kCentralSize, what, " is damaged: ", cd.entries, " entries cannot fit in a ",
           cd.size, "-byte central directory");
  return cd;
}

}  // namespace

void CheckTorchArchive(const std::string& path, const std::string& what) {
  ArchiveFile file(path, what);
  const CentralDirectory cd = FindCentralDirectory(file, what);
  const std::vector<unsigned char> dir = file.Read(cd.offset, cd.size, "central directory");
  uint64_t at = 0;
  for (uint64_t i = 0; i < cd.entries; ++i) {
    NE_CHECK(at + kCentralSize <= dir.size() && Le(&dir[at], 4) == kCentralHeader, what,
             " is damaged: zip central directory entry ", i, " is malformed");
    const unsigned char* h = &dir[at];
    const int method = static_cast<int>(Le(h + 10, 2));
    const uint32_t crc = static_cast<uint32_t>(Le(h + 16, 4));
    uint64_t compressed = Le(h + 20, 4), size = Le(h + 24, 4), local = Le(h + 42, 4);
    const uint64_t name_len = Le(h + 28, 2), extra_len = Le(h + 30, 2), comment_len = Le(h + 32, 2);
    NE_CHECK(at + kCentralSize + name_len + extra_len + comment_len <= dir.size(), what,
             " is damaged: zip central directory entry ", i, " overruns the directory");
    const std::string name(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    // ZIP64: the fields saturated at 0xffffffff are in the 0x0001 extra field, in this order.
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      const unsigned char* f = h + kCentralSize + name_len + x;
      const uint64_t id = Le(f, 2), len = Le(f + 2, 2);
      NE_CHECK(x + 4 + len <= extra_len, what, " is damaged: entry \"", name, "\" has a malformed extra field");
      if (id == 1) {
        uint64_t used = 0;
        for (uint64_t* field : {&size, &compressed, &local}) {
          if (*field != 0xffffffffu) continue;
          NE_CHECK(used + 8 <= len, what, " is damaged: entry \"", name, "\" has a short zip64 field");
          *field = Le(f + 4 + used, 8);
          used += 8;
        }
      }
      x += 4 + len;
    }
    NE_CHECK(method == 0 || method == 8, what, " is damaged or not a torch archive: entry \"", name,
             "\" uses zip compression method ", method);
    NE_CHECK(method != 0 || compressed == size, what, " is damaged: stored entry \"", name, "\" records ", compressed,
             " bytes but ", size, " uncompressed");
    const std::vector<unsigned char> lh = file.Read(local, kLocalSize, "entry \"" + name + "\" header");
    NE_CHECK(Le(lh.data(), 4) == kLocalHeader, what, " is damaged: entry \"", name, "\" has no zip header at byte ",
             local);
    const uint64_t data = local + kLocalSize + Le(&lh[26], 2) + Le(&lh[28], 2);
    uint32_t actual_crc = 0;
    uint64_t actual_size = 0;
    file.Measure(data, compressed, method, size, name, &actual_crc, &actual_size);
    NE_CHECK(actual_size == size && actual_crc == crc, what, " is damaged: entry \"", name,
             "\" does not match the size and CRC32 recorded when it was written (corrupted after writing: restore "
             "it from a copy, or retrain)");
    at += kCentralSize + name_len + extra_len + comment_len;
  }
}

}  // namespace nerfedit
