#include "methods/clipnerf/clipnerf_mapper.h"

#include <torch/serialize.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

torch::nn::Sequential TwoLayerMlp(int64_t in, int64_t hidden, int64_t out) {
  torch::nn::Sequential mlp(torch::nn::Linear(in, hidden), torch::nn::ReLU(), torch::nn::Linear(hidden, out));
  // The last layer starts near zero: an untrained mapper leaves the code (almost) where it is.
  auto last = mlp->ptr<torch::nn::LinearImpl>(2);
  torch::NoGradGuard no_grad;
  last->weight.mul_(0.01);
  last->bias.zero_();
  return mlp;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

ClipMappersImpl::ClipMappersImpl(const ClipMappersOptions& o) : options(o) {
  NE_CHECK(o.clip_dim() >= 1 && o.hidden() >= 1 && o.shape_dim() >= 1 && o.appearance_dim() >= 1,
           "CLIP mappers: sizes must be >= 1, got clip ", o.clip_dim(), " hidden ", o.hidden(), " shape ",
           o.shape_dim(), " appearance ", o.appearance_dim());
  shape_mapper = register_module("shape_mapper", TwoLayerMlp(o.clip_dim(), o.hidden(), o.shape_dim()));
  appearance_mapper = register_module("appearance_mapper", TwoLayerMlp(o.clip_dim(), o.hidden(), o.appearance_dim()));
}

at::Tensor ClipMappersImpl::Shape(const at::Tensor& e) {
  NE_CHECK(e.dim() == 2 && e.size(1) == options.clip_dim(), "CLIP mappers: embedding must be [B,", options.clip_dim(),
           "], got ", e.sizes(), " (a CLIP of another size than the mappers were trained with?)");
  return shape_mapper->forward(e);
}

at::Tensor ClipMappersImpl::Appearance(const at::Tensor& e) {
  NE_CHECK(e.dim() == 2 && e.size(1) == options.clip_dim(), "CLIP mappers: embedding must be [B,", options.clip_dim(),
           "], got ", e.sizes(), " (a CLIP of another size than the mappers were trained with?)");
  return appearance_mapper->forward(e);
}

std::vector<EditPrompt> DefaultPromptLibrary() {
  std::vector<EditPrompt> out;
  for (const char* c : {"red", "blue", "green", "brown", "beige", "white", "orange", "purple"})
    out.push_back(ParseEditPrompt(std::string("a ") + c + " chair"));
  for (int a = 0; a < kNumChairShapeAttributes; ++a) {
    for (int v = 1; v >= 0; --v) {
      ChairCaption cap;
      cap.shape[a] = v;
      out.push_back(ParseEditPrompt(cap.Text()));
    }
  }
  return out;
}

EditPrompt ParseEditPrompt(const std::string& text) {
  EditPrompt p;
  p.text = text;
  const std::string t = " " + Lower(text) + " ";
  int said = 0;
  for (size_t c = 0; c < ChairColours().size(); ++c) {
    if (t.find(" " + ChairColours()[c].name + " ") != std::string::npos) p.colour = static_cast<int>(c), ++said;
  }
  // Phrases checked in order; "no armrests" / "without armrests" before "armrests".
  const std::vector<std::tuple<std::string, int, int>> phrases = {
      {"tall back", kBackAttr, 1},         {"short back", kBackAttr, -1}, {"no armrests", kArmsAttr, -1},
      {"without armrests", kArmsAttr, -1}, {"armrests", kArmsAttr, 1},    {"long legs", kLegsAttr, 1},
      {"short legs", kLegsAttr, -1},       {"wide seat", kSeatAttr, 1},   {"narrow seat", kSeatAttr, -1}};
  int shapes = 0;
  for (const auto& [phrase, attribute, direction] : phrases) {
    if (t.find(" " + phrase + " ") != std::string::npos) {
      if (p.attribute == attribute) continue;  // "no armrests" also contains "armrests"
      p.attribute = attribute, p.direction = direction, ++shapes;
    }
  }
  NE_CHECK(
      said + shapes == 1, "edit prompt \"", text, "\": expected exactly one colour (",
      [] {
        std::string s;
        for (const auto& c : ChairColours()) s += (s.empty() ? "" : ", ") + c.name;
        return s;
      }(),
      ") or one shape phrase (tall/short back, armrests/no armrests, long/short legs, wide/narrow seat); it says ",
      said, " colours and ", shapes, " shape phrases");
  p.shape = shapes == 1;
  return p;
}

std::vector<EditPrompt> ReadPromptFile(const std::string& path) {
  NE_CHECK(fs::is_regular_file(path), "prompt file ", path, " does not exist");
  std::istringstream lines(ReadTextFile(path));
  std::vector<EditPrompt> out;
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    try {
      out.push_back(ParseEditPrompt(line.substr(start)));
    } catch (const std::exception& e) {
      NE_FAIL(path, ":", n, ": ", e.what());
    }
  }
  NE_CHECK(!out.empty(), "prompt file ", path, " holds no prompt");
  return out;
}

nlohmann::json MapperTrainReport::ToJson() const {
  return {{"steps", steps}, {"first_loss", first_loss}, {"final_loss", final_loss}, {"train_seconds", train_seconds}};
}

Camera ResizedCamera(const Camera& camera, int64_t size) {
  Camera c = camera;
  const double sx = static_cast<double>(size) / camera.width, sy = static_cast<double>(size) / camera.height;
  c.width = size, c.height = size;
  c.fx *= sx, c.cx *= sx, c.fy *= sy, c.cy *= sy;
  return c;
}

at::Tensor CodeSpread(ClipnerfModel& model) {
  torch::NoGradGuard no_grad;
  return model.codes()->codes.detach().std(0).clamp_min(1e-3);
}

at::Tensor RenderCodes(ClipnerfModel& model, const std::vector<Camera>& cameras, const at::Tensor& codes) {
  NE_CHECK(
      codes.dim() == 2 && codes.size(0) == static_cast<int64_t>(cameras.size()) && codes.size(1) == model.code_dim(),
      "clipnerf render: codes must be [", cameras.size(), ",", model.code_dim(), "], got ", codes.sizes());
  std::vector<RayBatch> rays;
  std::vector<at::Tensor> per_ray;
  for (size_t i = 0; i < cameras.size(); ++i) {
    rays.push_back(GenerateRays(cameras[i]));
    per_ray.push_back(codes[i].unsqueeze(0).expand({rays.back().size(), codes.size(1)}));
  }
  std::vector<at::Tensor> origins, directions;
  for (const auto& r : rays) origins.push_back(r.origins), directions.push_back(r.directions);
  const RayBatch all{torch::cat(origins).to(model.device()), torch::cat(directions).to(model.device())};
  const ClipnerfRays out = model.RenderRays(all, torch::cat(per_ray).to(model.device()), /*training=*/false);
  const int64_t h = cameras[0].height, w = cameras[0].width;
  return out.rgb.reshape({static_cast<int64_t>(cameras.size()), h, w, 3});
}

at::Tensor ApplyMappers(const ClipnerfModel& model, ClipMappers& mappers, const at::Tensor& codes,
                        const at::Tensor& embedding, const std::vector<bool>& shape) {
  const int64_t b = codes.size(0);
  NE_CHECK(static_cast<int64_t>(shape.size()) == b, "ApplyMappers: one shape flag per code expected");
  const at::Tensor e = embedding.size(0) == 1 ? embedding.expand({b, embedding.size(1)}) : embedding;
  std::vector<bool> s = shape;
  at::Tensor flags = torch::zeros({b, 1});
  for (int64_t i = 0; i < b; ++i) flags[i][0] = s[i] ? 1.0f : 0.0f;
  flags = flags.to(codes.device());
  // Shape prompts move z_s only, colour prompts z_a only (the paper's routing).
  const at::Tensor ds = mappers->Shape(e) * flags, da = mappers->Appearance(e) * (1 - flags);
  return codes + torch::cat({ds, da}, 1);
}

ImageEmbedder ClipImageEmbedder(ClipBundle& clip) {
  return [&clip](const at::Tensor& images) { return clip.model->EncodeImage(ClipInputFromRenders(clip, images)); };
}

namespace {

// (D_CLIP per sample [B], code offsets [B, S+A], the renders' unit embeddings [B,P]).
std::tuple<at::Tensor, at::Tensor, at::Tensor> MapperLossTerms(ClipnerfModel& model, ClipMappers& mappers,
                                                  const ImageEmbedder& embed, const at::Tensor& e,
                                                  const std::vector<bool>& shape, const at::Tensor& codes,
                                                  const std::vector<Camera>& cameras) {
  NE_CHECK(e.dim() == 2 && e.size(0) == codes.size(0) && static_cast<int64_t>(cameras.size()) == codes.size(0),
           "mapper step: one embedding and one camera per code expected, got ", e.sizes(), ", ", cameras.size(),
           " cameras, codes ", codes.sizes());
  const at::Tensor edited = ApplyMappers(model, mappers, codes, e, shape);
  const at::Tensor embedded = embed(RenderCodes(model, cameras, edited));
  return {1 - (embedded * e).sum(1), edited - codes, embedded};  // both unit length: 1 - cos
}

}  // namespace

at::Tensor PromptRivals(const std::vector<EditPrompt>& prompts) {
  const int64_t k = static_cast<int64_t>(prompts.size());
  at::Tensor rivals = torch::zeros({k, k}, torch::kBool);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const EditPrompt &a = prompts[i], &b = prompts[j];
      const bool rival = a.shape == b.shape && (!a.shape || (a.attribute == b.attribute && a.direction != b.direction));
      rivals[i][j] = i == j || rival;
    }
  return rivals;
}

double MapperStep(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed,
                  torch::optim::Optimizer& optimizer, const at::Tensor& e, const std::vector<bool>& shape,
                  const at::Tensor& codes, const std::vector<Camera>& cameras, const at::Tensor& spread,
                  const MapperTrainOptions& options, const PromptContrast* contrast) {
  const auto [d_clip, offset, embedded] = MapperLossTerms(model, mappers, embed, e, shape, codes, cameras);
  at::Tensor loss =
      options.clip_weight() * d_clip.mean() + options.norm_weight() * (offset / spread).pow(2).sum(1).mean();
  if (contrast != nullptr && options.contrast_weight() > 0) {
    const at::Tensor index = contrast->index.to(embedded.device());
    const at::Tensor logits = (options.logit_scale() * embedded.matmul(contrast->embeddings.to(embedded.device()).t()))
                                  .masked_fill(contrast->rivals.to(embedded.device()).index_select(0, index).logical_not(),
                                               -1e9);
    loss = loss + options.contrast_weight() * torch::nn::functional::cross_entropy(logits, index);
  }
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
  return d_clip.mean().item<double>();
}

double MapperDistance(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed, const at::Tensor& e,
                      const std::vector<bool>& shape, const at::Tensor& codes, const std::vector<Camera>& cameras) {
  torch::NoGradGuard no_grad;
  return std::get<0>(MapperLossTerms(model, mappers, embed, e, shape, codes, cameras)).mean().item<double>();
}

MapperTrainReport TrainMappers(ClipnerfModel& model, ClipMappers& mappers, const ImageEmbedder& embed,
                               const std::vector<EditPrompt>& prompts, const at::Tensor& prompt_embeddings,
                               const std::vector<Camera>& cameras, const MapperTrainOptions& options) {
  NE_CHECK(!prompts.empty() && !cameras.empty(), "mapper training: needs prompts and cameras");
  NE_CHECK(prompt_embeddings.dim() == 2 && prompt_embeddings.size(0) == static_cast<int64_t>(prompts.size()),
           "mapper training: one embedding per prompt expected, got ", prompt_embeddings.sizes());
  NE_CHECK(options.steps() >= 1 && options.batch() >= 1 && options.render_size() >= 8,
           "mapper training: steps >= 1, batch >= 1, render_size >= 8 expected");
  NE_CHECK(options.contrast_weight() >= 0 && options.logit_scale() > 0,
           "mapper training: contrast_weight >= 0 and logit_scale > 0 expected, got ", options.contrast_weight(), ", ",
           options.logit_scale());
  const int64_t n = model.codes()->codes.size(0);
  const int64_t usable = n - options.held_out();
  NE_CHECK(usable >= 1, "mapper training: the run has ", n, " instances; held_out ", options.held_out(),
           " leaves none to train on");
  const double start = NowSeconds();
  for (auto& p : model.field()->parameters()) p.set_requires_grad(false);
  model.SetTraining(false);
  const at::Tensor spread = CodeSpread(model);
  const at::Tensor table = model.codes()->codes.detach().slice(0, 0, usable);
  torch::optim::Adam optimizer(mappers->parameters(), torch::optim::AdamOptions(options.lr()));
  const at::Tensor rivals = PromptRivals(prompts);
  std::mt19937_64 rng(options.seed() + 99);
  torch::manual_seed(options.seed());
  MapperTrainReport report;
  std::vector<double> losses;
  for (int64_t step = 0; step < options.steps(); ++step) {
    std::vector<int64_t> prompt_index(options.batch()), rows(options.batch());
    std::vector<bool> shape(options.batch());
    std::vector<Camera> batch_cameras;
    for (int64_t i = 0; i < options.batch(); ++i) {
      prompt_index[i] = static_cast<int64_t>((step * options.batch() + i) % prompts.size());
      shape[i] = prompts[prompt_index[i]].shape;
      rows[i] = static_cast<int64_t>(rng() % usable);
      batch_cameras.push_back(ResizedCamera(cameras[rng() % cameras.size()], options.render_size()));
    }
    const at::Tensor codes = table.index_select(0, torch::tensor(rows, torch::kLong)) +
                             options.code_noise() * spread * torch::randn({options.batch(), table.size(1)});
    const at::Tensor index = torch::tensor(prompt_index, torch::kLong);
    const at::Tensor e = prompt_embeddings.index_select(0, index);
    const PromptContrast contrast{prompt_embeddings, rivals, index};
    losses.push_back(MapperStep(model, mappers, embed, optimizer, e.to(model.device()), shape, codes.to(model.device()),
                                batch_cameras, spread.to(model.device()), options, &contrast));
    if (options.progress() && (step % 25 == 0 || step + 1 == options.steps()))
      std::fprintf(stderr, "mappers step %lld/%lld D_CLIP %.4f (%.0f s)\n", static_cast<long long>(step),
                   static_cast<long long>(options.steps()), losses.back(), NowSeconds() - start);
  }
  const size_t k = std::min<size_t>(20, losses.size());
  for (size_t i = 0; i < k; ++i) {
    report.first_loss += losses[i] / k;
    report.final_loss += losses[losses.size() - k + i] / k;
  }
  report.steps = options.steps();
  report.train_seconds = NowSeconds() - start;
  return report;
}

void SaveMappers(const std::string& run_dir, ClipMappers& mappers, const nlohmann::json& info) {
  nlohmann::json j = info;
  j["format_version"] = 1;
  j["kind"] = "clipnerf_mappers";
  j["sizes"] = {{"clip_dim", mappers->options.clip_dim()},
                {"hidden", mappers->options.hidden()},
                {"shape_dim", mappers->options.shape_dim()},
                {"appearance_dim", mappers->options.appearance_dim()}};
  WriteAtomically(run_dir + "/mappers.pt", [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    mappers->save(archive);
    archive.save_to(tmp);
  });
  WriteTextAtomically(run_dir + "/mappers.json", j.dump(1) + "\n");
}

LoadedMappers LoadMappers(const std::string& run_dir, const ClipnerfModel& model) {
  const std::string json_path = run_dir + "/mappers.json", pt = run_dir + "/mappers.pt";
  NE_CHECK(fs::exists(json_path) && fs::exists(pt), run_dir,
           " has no mappers trained (no mappers.json / mappers.pt):", " run `nerfedit clipnerf mappers ", run_dir,
           "` first");
  LoadedMappers out;
  try {
    out.info = nlohmann::json::parse(ReadTextFile(json_path));
  } catch (const nlohmann::json::exception& e) {
    NE_FAIL(json_path, ": not valid JSON (", e.what(), ")");
  }
  NE_CHECK(out.info.value("kind", "") == "clipnerf_mappers" && out.info.value("format_version", 0) == 1, json_path,
           ": not a clipnerf mappers file of format 1");
  const nlohmann::json& s = out.info.at("sizes");
  const ClipMappersOptions options = ClipMappersOptions()
                                         .clip_dim(s.at("clip_dim").get<int64_t>())
                                         .hidden(s.at("hidden").get<int64_t>())
                                         .shape_dim(s.at("shape_dim").get<int64_t>())
                                         .appearance_dim(s.at("appearance_dim").get<int64_t>());
  NE_CHECK(options.shape_dim() == model.config().shape_code_dim &&
               options.appearance_dim() == model.config().appearance_code_dim,
           json_path, ": mappers for codes ", options.shape_dim(), "+", options.appearance_dim(), ", the run's are ",
           model.config().shape_code_dim, "+", model.config().appearance_code_dim);
  out.mappers = ClipMappers(options);
  torch::serialize::InputArchive archive;
  archive.load_from(pt);
  out.mappers->load(archive);
  out.mappers->eval();
  return out;
}

}  // namespace nerfedit
