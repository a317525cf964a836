#include "engine/run_folder.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include <cmath>
#include <filesystem>

#include "engine/torch_archive_check.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {
// The default generators a method's step draws from (batches, jitter, dropout): saved with the weights so that a
// resumed run draws what the uninterrupted run would have drawn.
std::vector<std::pair<std::string, at::Generator>> DefaultGenerators() {
  std::vector<std::pair<std::string, at::Generator>> generators = {
      {"rng.cpu", at::globalContext().defaultGenerator(c10::Device(c10::kCPU))}};
  if (torch::cuda::is_available()) {
    generators.emplace_back("rng.cuda", at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, 0)));
  }
  return generators;
}
}  // namespace

void WriteRunJson(const std::string& run_dir, const std::string& method, const nlohmann::json& config,
                  const nlohmann::json& extras) {
  nlohmann::json info = {{"format_version", kRunFormatVersion}, {"method", method}, {"config", config}};
  for (auto& [key, value] : extras.items()) {
    NE_CHECK(!info.contains(key), "run.json extra \"", key, "\" clashes with a reserved key");
    info[key] = value;
  }
  WriteTextAtomically(run_dir + "/run.json", info.dump(1));
}

RunHeader ReadRunJson(const std::string& run_dir) {
  NE_CHECK(fs::is_directory(run_dir), "run folder ", run_dir, " does not exist");
  const std::string path = run_dir + "/run.json";
  NE_CHECK(fs::exists(path), run_dir, " is not a nerfedit run (no run.json)");
  RunHeader header;
  header.json = ReadJsonFile(path);
  NE_CHECK(header.json.is_object(), path, ": expected a JSON object");
  const auto version = header.json.find("format_version");
  NE_CHECK(version != header.json.end() && version->is_number_integer(), path, ": no integer format_version");
  NE_CHECK(version->get<int64_t>() == kRunFormatVersion, path, " has format version ", version->get<int64_t>(),
           " but this nerfedit reads version ", kRunFormatVersion,
           ": retrain the run, or use the nerfedit release that made it");
  const auto method = header.json.find("method");
  NE_CHECK(method != header.json.end() && method->is_string(), path, ": no \"method\" string");
  header.method = method->get<std::string>();
  const auto config = header.json.find("config");
  NE_CHECK(config != header.json.end() && config->is_object(), path, ": no \"config\" object");
  header.config = *config;
  return header;
}

void WriteCheckpoint(const std::string& path, Method& method, const std::vector<OptimizerSlot>& optimizers,
                     const TrainingProgress& progress) {
  torch::serialize::OutputArchive archive;
  nlohmann::json meta = {{"format_version", kRunFormatVersion},
                         {"method", method.Name()},
                         {"step", progress.step},
                         {"train_seconds", progress.train_seconds},
                         {"curve", progress.curve}};
  nlohmann::json names = nlohmann::json::array();
  for (const auto& slot : optimizers) names.push_back(slot.name);
  meta["optimizers"] = names;
  archive.write("meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive model;
  method.SaveState(model);
  archive.write("model", model);
  for (const auto& slot : optimizers) {
    torch::serialize::OutputArchive state;
    slot.optimizer->save(state);
    archive.write("optimizer." + slot.name, state);
  }
  for (auto& [key, generator] : DefaultGenerators()) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write(key, generator.get_state(), /*is_buffer=*/true);
  }
  WriteAtomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

TrainingProgress OpenCheckpoint(const std::string& path, const std::string& method,
                                torch::serialize::InputArchive* archive) {
  NE_CHECK(fs::exists(path), "checkpoint ", path, " does not exist");
  // LibTorch's reader does not check the zip's CRCs (torch_archive_check.h): a damaged file is refused here first.
  CheckTorchArchive(path, "checkpoint " + path);
  nlohmann::json meta;
  try {
    archive->load_from(path);
    c10::IValue meta_value;
    NE_CHECK(archive->try_read("meta", meta_value) && meta_value.isString(), path,
             " is not a nerfedit checkpoint (no meta record)");
    meta = nlohmann::json::parse(meta_value.toStringRef());
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    NE_FAIL("checkpoint ", path, " is unreadable (truncated or not a nerfedit checkpoint): ",
            std::string(e.what_without_backtrace()).substr(0, 200));
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL("checkpoint ", path, " has a corrupt meta record: ", e.what());
  } catch (const std::exception& e) {  // LibTorch's TorchScript importer throws its own types (jit::ErrorReport)
    NE_FAIL("checkpoint ", path, " is unreadable (not a nerfedit checkpoint): ", std::string(e.what()).substr(0, 200));
  }
  NE_CHECK(meta.is_object(), "checkpoint ", path, " has a corrupt meta record");
  TrainingProgress progress;
  try {
    const int64_t version = meta.value("format_version", int64_t{-1});
    NE_CHECK(version == kRunFormatVersion, "checkpoint ", path, " has format version ", version,
             " but this nerfedit reads version ", kRunFormatVersion);
    const std::string made_by = meta.value("method", std::string());
    NE_CHECK(method.empty() || made_by == method, "checkpoint ", path, " was written by method \"", made_by,
             "\", not \"", method, "\"");
    progress.step = meta.value("step", int64_t{0});
    progress.train_seconds = meta.value("train_seconds", 0.0);
    progress.curve = meta.value("curve", nlohmann::json::array());
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL("checkpoint ", path, " has a corrupt meta record: ", e.what());
  }
  NE_CHECK(progress.step >= 0 && std::isfinite(progress.train_seconds) && progress.train_seconds >= 0 &&
               progress.curve.is_array(),
           "checkpoint ", path, " has a corrupt meta record: step ", progress.step, ", train_seconds ",
           progress.train_seconds, ", curve of type ", progress.curve.type_name());
  return progress;
}

void ReadModelRecord(torch::serialize::InputArchive& checkpoint, const std::string& path,
                     torch::serialize::InputArchive* model) {
  NE_CHECK(checkpoint.try_read("model", *model), "checkpoint ", path, " has no model record");
}

Camera ReadRunCamera(const nlohmann::json& camera, const std::string& path, size_t index) {
  try {
    return Camera::FromJson(camera);
  } catch (const Error& e) {
    NE_FAIL(path, ": training camera ", index, ": ", e.what());
  }
}

void CheckRunAabb(const at::Tensor& aabb, const std::string& path) {
  NE_CHECK(aabb.isfinite().all().item<bool>() && (aabb[0] < aabb[1]).all().item<bool>(), path,
           ": \"aabb\" must be finite with min < max on every axis, got ", aabb.flatten());
}

CodedRunExtras ReadCodedRunExtras(const nlohmann::json& j, const std::string& path, const std::string& method) {
  CodedRunExtras extras;
  try {
    NE_CHECK(j.contains("aabb") && j["aabb"].is_array() && j["aabb"].size() == 6, path,
             ": \"aabb\" must hold 6 numbers");
    extras.aabb = torch::tensor(j["aabb"].get<std::vector<float>>()).view({2, 3});
    NE_CHECK(j.contains("cameras") && j["cameras"].is_array(), path, ": no \"cameras\" list");
    for (const auto& c : j["cameras"]) extras.cameras.push_back(ReadRunCamera(c, path, extras.cameras.size()));
    NE_CHECK(j.contains("num_latents") && j["num_latents"].is_number_integer(), path, ": no \"num_latents\"");
    extras.num_codes = j["num_latents"].get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(path, ": malformed ", method, " extras: ", e.what());
  }
  CheckRunAabb(extras.aabb, path);
  NE_CHECK(!extras.cameras.empty(), path, ": the run has no cameras");
  return extras;
}

void LoadModelRecord(const std::string& path, const std::string& method, const std::string& what,
                     const std::function<void(torch::serialize::InputArchive& record)>& load) {
  torch::serialize::InputArchive checkpoint, record;
  OpenCheckpoint(path, method, &checkpoint);
  try {
    ReadModelRecord(checkpoint, path, &record);
    load(record);
  } catch (const c10::Error& e) {
    NE_FAIL("checkpoint ", path, " does not match the run's ", what, ": ",
            std::string(e.what_without_backtrace()).substr(0, 300));
  } catch (const Error& e) {
    NE_FAIL("checkpoint ", path, ": ", e.what());
  } catch (const std::exception& e) {  // other LibTorch exception types (IValue conversions, TorchScript)
    NE_FAIL("checkpoint ", path, " does not match the run's ", what, ": ", std::string(e.what()).substr(0, 300));
  }
}

TrainingProgress LoadCheckpoint(const std::string& path, Method& method, const std::vector<OptimizerSlot>& optimizers) {
  torch::serialize::InputArchive archive;
  TrainingProgress progress = OpenCheckpoint(path, method.Name(), &archive);
  try {
    torch::serialize::InputArchive model;
    ReadModelRecord(archive, path, &model);
    method.LoadState(model);
    for (const auto& slot : optimizers) {
      torch::serialize::InputArchive state;
      NE_CHECK(archive.try_read("optimizer." + slot.name, state), "checkpoint ", path, " has no state for optimizer \"",
               slot.name, "\"");
      slot.optimizer->load(state);
    }
    for (auto& [key, generator] : DefaultGenerators()) {
      at::Tensor state;
      if (!archive.try_read(key, state, /*is_buffer=*/true)) continue;  // a checkpoint from before saving them
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(state);
    }
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    NE_FAIL("checkpoint ", path, " does not match the run's ", method.Name(), " model: ",
            std::string(e.what_without_backtrace()).substr(0, 300));
  } catch (const std::exception& e) {  // other LibTorch exception types (IValue conversions, TorchScript)
    NE_FAIL("checkpoint ", path, " does not match the run's ", method.Name(), " model: ",
            std::string(e.what()).substr(0, 300));
  }
  return progress;
}

}  // namespace nerfedit
