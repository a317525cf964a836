#include "util/npy.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <regex>

#include "util/atomic_file.h"
#include "util/error.h"

namespace nerfedit {

namespace {
const char kMagic[] = "\x93NUMPY";

std::string Descr(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kInt: return "<i4";
    case at::kByte: return "|u1";
    default: NE_FAIL("npy: unsupported dtype ", t, " (float32, int32, uint8 only)");
  }
}

at::ScalarType FromDescr(const std::string& d, const std::string& path) {
  if (d == "<f4") return at::kFloat;
  if (d == "<i4") return at::kInt;
  if (d == "|u1" || d == "<u1") return at::kByte;
  NE_FAIL(path, ": unsupported npy dtype '", d, "' (float32, int32, uint8 only)");
}
}  // namespace

void WriteNpy(const std::string& path, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.size(i)) + (t.dim() == 1 ? ",)" : (i + 1 < t.dim() ? ", " : ")"));
  if (t.dim() == 0) shape = "()";
  std::string header = "{'descr': '" + Descr(t.scalar_type()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(kMagic, 6);
    const char version[2] = {1, 0};
    out.write(version, 2);
    const uint16_t len = static_cast<uint16_t>(header.size());
    out.write(reinterpret_cast<const char*>(&len), 2);
    out.write(header.data(), header.size());
    out.write(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    out.close();
    NE_CHECK(out.good(), "failed writing ", tmp);
  });
}

at::Tensor ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NE_CHECK(in.good(), "cannot open ", path);
  char magic[8];
  in.read(magic, 8);
  NE_CHECK(in.good() && std::memcmp(magic, kMagic, 6) == 0, path, ": not a .npy file");
  uint16_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 2);
  std::string header(len, '\0');
  in.read(header.data(), len);
  NE_CHECK(in.good(), path, ": truncated .npy header");
  std::smatch m;
  NE_CHECK(std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")), path, ": npy header has no descr");
  const at::ScalarType dtype = FromDescr(m[1], path);
  NE_CHECK(header.find("'fortran_order': False") != std::string::npos, path, ": fortran-order npy not supported");
  NE_CHECK(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), path, ": npy header has no shape");
  std::vector<int64_t> shape;
  std::string dims = m[1];
  std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
    shape.push_back(std::stoll(it->str()));
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  in.read(static_cast<char*>(t.data_ptr()), t.numel() * t.element_size());
  NE_CHECK(in.gcount() == static_cast<std::streamsize>(t.numel() * t.element_size()), path,
           ": truncated npy data (expected ", t.numel() * t.element_size(), " bytes, got ", in.gcount(), ")");
  return t;
}

}  // namespace nerfedit
