#include "models2d/safetensors.h"

#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/error.h"

namespace nerfedit {
namespace {

using Json = nlohmann::json;

// The header is capped like the reference implementation (100 MB) so a garbage length fails fast.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  int64_t bytes;
};
const DtypeInfo kDtypes[] = {
    {"F64", at::kDouble, 8}, {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},   {"BF16", at::kBFloat16, 2},
    {"I64", at::kLong, 8},   {"I32", at::kInt, 4},   {"I16", at::kShort, 2},  {"I8", at::kChar, 1},
    {"U8", at::kByte, 1},    {"BOOL", at::kBool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo& DtypeOf(at::ScalarType type, const std::string& name) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d;
  NE_FAIL("safetensors: tensor \"", name, "\" has dtype ", type, ", which safetensors cannot store");
}

std::string ShapeString(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << "]";
  return s.str();
}

}  // namespace

SafetensorsFile ReadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  NE_CHECK(in, "safetensors file ", path, " cannot be opened");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  NE_CHECK(file_size >= 8, "safetensors file ", path, " is truncated: ", file_size,
           " bytes, fewer than the 8-byte header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  NE_CHECK(header_len <= kMaxHeaderBytes, "safetensors file ", path, ": header length ", header_len,
           " exceeds the 100 MB limit (not a safetensors file?)");
  NE_CHECK(8 + header_len <= file_size, "safetensors file ", path, ": header length ", header_len,
           " runs beyond the end of the file (", file_size, " bytes): the file is truncated");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  Json json;
  try {
    json = Json::parse(header);
  } catch (const Json::exception& e) {
    NE_FAIL("safetensors file ", path, ": the header is not valid JSON: ", e.what());
  }
  NE_CHECK(json.is_object(), "safetensors file ", path, ": the header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  NE_CHECK(in, "safetensors file ", path, ": could not read ", data_size, " data bytes");

  SafetensorsFile result;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> extents;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == "__metadata__") {
      NE_CHECK(entry.is_object(), "safetensors file ", path, ": __metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        NE_CHECK(m.value().is_string(), "safetensors file ", path, ": __metadata__ value \"", m.key(),
                 "\" is not a string");
        result.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = c10::str("safetensors file ", path, ": tensor \"", name, "\"");
    NE_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                 entry.contains("data_offsets"),
             where, " needs dtype, shape and data_offsets; got ", entry.dump());
    NE_CHECK(entry["dtype"].is_string(), where, ": dtype is not a string");
    const std::string dtype_name = entry["dtype"].get<std::string>();
    const DtypeInfo* dtype = FindDtype(dtype_name);
    NE_CHECK(dtype != nullptr, where, " has unknown dtype \"", dtype_name,
             "\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (const Json& d : entry["shape"]) {
      NE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
               " has a bad shape ", entry["shape"].dump());
      shape.push_back(d.get<int64_t>());
      numel *= shape.back();
    }
    const Json& offsets = entry["data_offsets"];
    NE_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                 offsets[1].is_number_unsigned(),
             where, " has bad data_offsets ", offsets.dump());
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    NE_CHECK(begin <= end && end <= data_size, where, " has data_offsets [", begin, ", ", end,
             "] outside the ", data_size, " data bytes (truncated file?)");
    NE_CHECK(end - begin == static_cast<uint64_t>(numel * dtype->bytes), where, " of shape ", ShapeString(shape),
             " and dtype ", dtype_name, " needs ", numel * dtype->bytes, " bytes but data_offsets span ",
             end - begin);
    extents.push_back({{begin, end}, name});
    at::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype->type));
    if (end > begin) std::memcpy(t.data_ptr(), data.data() + begin, end - begin);
    result.tensors.emplace(name, std::move(t));
  }
  // The format requires the tensors to tile the data buffer exactly: overlaps or holes mean a corrupt file.
  std::sort(extents.begin(), extents.end());
  uint64_t cursor = 0;
  for (const auto& [range, name] : extents) {
    NE_CHECK(range.first >= cursor || range.first == range.second, "safetensors file ", path, ": tensor \"", name,
             "\" at [", range.first, ", ", range.second, "] overlaps the previous tensor, which ends at ", cursor);
    NE_CHECK(range.first <= cursor, "safetensors file ", path, ": ", range.first - cursor,
             " unused bytes before tensor \"", name, "\"");
    cursor = std::max(cursor, range.second);
  }
  NE_CHECK(cursor == data_size, "safetensors file ", path, ": the tensors cover ", cursor, " of ", data_size,
           " data bytes");
  return result;
}

TensorMap LoadSafetensors(const std::string& path) {
  TensorMap tensors = ReadSafetensors(path).tensors;
  for (auto& [name, t] : tensors)
    if (at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kFloat) t = t.to(at::kFloat);
  return tensors;
}

void SaveSafetensors(const std::string& path, const TensorMap& tensors,
                     const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    NE_CHECK(name != "__metadata__", "safetensors file ", path, ": \"__metadata__\" cannot name a tensor");
    const DtypeInfo& dtype = DtypeOf(tensor.scalar_type(), name);
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel() * dtype.bytes);
    header[name] = {{"dtype", dtype.name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(t);
  }
  std::string header_text = header.dump();
  // Pad the header with spaces to a multiple of 8 so the data that follows is aligned, as the reference writer does.
  while ((header_text.size() + 8) % 8 != 0) header_text.push_back(' ');
  WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    NE_CHECK(out, "cannot write ", tmp);
    uint64_t len = header_text.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const at::Tensor& t : contiguous)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
    NE_CHECK(out, "error while writing ", tmp);
  });
}

TensorMap StateDict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value().detach().to(at::kCPU);
  for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value().detach().to(at::kCPU);
  return out;
}

void LoadStateDict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                   const LoadStateDictOptions& options) {
  std::map<std::string, at::Tensor> targets;
  for (auto& p : module.named_parameters(true)) targets[p.key()] = p.value();
  for (auto& b : module.named_buffers(true)) targets[b.key()] = b.value();

  std::map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : tensors) {
    const std::string mapped = options.rename ? options.rename(name) : name;
    if (mapped.empty()) continue;
    NE_CHECK(!given.count(mapped), source, ": two tensors map to the module name \"", mapped, "\"");
    given[mapped] = &t;
  }
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, target] : targets)
    if (!given.count(name)) missing.push_back(name);
  for (const auto& [name, t] : given)
    if (!targets.count(name)) unexpected.push_back(name);
  auto join = [](const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  NE_CHECK(missing.empty() && unexpected.empty(), source, ": state dict does not match the module: missing [",
           join(missing), "], unexpected [", join(unexpected), "]");
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    const at::Tensor& src = *given.at(name);
    NE_CHECK(src.sizes() == target.sizes(), source, ": tensor \"", name, "\" has shape ", ShapeString(src.sizes()),
             " but the module expects ", ShapeString(target.sizes()));
    target.copy_(src.to(target.device(), target.scalar_type()));
  }
}

}  // namespace nerfedit
