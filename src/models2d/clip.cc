// CLIP: config I/O, the joint model (pooling, projections, MaskCLIP dense embeddings), loading, preprocessing.
#include "models2d/clip.h"

#include <torch/torch.h>

#include <filesystem>

#include "models2d/hf_config.h"
#include "models2d/safetensors.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"
#include "util/thread_policy.h"

namespace nerfedit {
namespace {

namespace F = torch::nn::functional;

const Json& RequiredObject(const Json& j, const char* key, const std::string& context) {
  NE_CHECK(j.contains(key) && j[key].is_object(), context, ": missing required object \"", key, "\"");
  return j[key];
}

bool IsLegacyEos(int64_t eos) { return eos == 2; }

}  // namespace

ClipConfig ClipConfig::FromHfJson(const Json& json, const std::string& context) {
  NE_CHECK(json.is_object(), context, ": expected a JSON object");
  if (json.contains("model_type")) {
    const std::string type = json["model_type"].is_string() ? json["model_type"].get<std::string>() : "";
    NE_CHECK(type == "clip", context, ": model_type is \"", type, "\", expected \"clip\"");
  }
  ClipConfig c;
  const Json& t = RequiredObject(json, "text_config", context);
  const Json& v = RequiredObject(json, "vision_config", context);
  const std::string tc = context + ": text_config", vc = context + ": vision_config";
  ReadHfKeyIfPresent(t, "vocab_size", &c.text.vocab_size, tc);
  ReadHfKeyIfPresent(t, "hidden_size", &c.text.hidden_size, tc);
  ReadHfKeyIfPresent(t, "intermediate_size", &c.text.intermediate_size, tc);
  ReadHfKeyIfPresent(t, "num_hidden_layers", &c.text.num_hidden_layers, tc);
  ReadHfKeyIfPresent(t, "num_attention_heads", &c.text.num_attention_heads, tc);
  ReadHfKeyIfPresent(t, "max_position_embeddings", &c.text.max_position_embeddings, tc);
  ReadHfKeyIfPresent(t, "hidden_act", &c.text.hidden_act, tc);
  ReadHfKeyIfPresent(t, "layer_norm_eps", &c.text.layer_norm_eps, tc);
  ReadHfKeyIfPresent(t, "eos_token_id", &c.text.eos_token_id, tc);
  ReadHfKeyIfPresent(v, "hidden_size", &c.vision.hidden_size, vc);
  ReadHfKeyIfPresent(v, "intermediate_size", &c.vision.intermediate_size, vc);
  ReadHfKeyIfPresent(v, "num_hidden_layers", &c.vision.num_hidden_layers, vc);
  ReadHfKeyIfPresent(v, "num_attention_heads", &c.vision.num_attention_heads, vc);
  ReadHfKeyIfPresent(v, "image_size", &c.vision.image_size, vc);
  ReadHfKeyIfPresent(v, "patch_size", &c.vision.patch_size, vc);
  ReadHfKeyIfPresent(v, "num_channels", &c.vision.num_channels, vc);
  ReadHfKeyIfPresent(v, "hidden_act", &c.vision.hidden_act, vc);
  ReadHfKeyIfPresent(v, "layer_norm_eps", &c.vision.layer_norm_eps, vc);
  ReadHfKeyIfPresent(json, "projection_dim", &c.projection_dim, context);
  ReadHfKeyIfPresent(json, "logit_scale_init_value", &c.logit_scale_init_value, context);
  c.Check(context);
  return c;
}

Json ClipConfig::ToHfJson() const {
  Json text_json = {{"model_type", "clip_text_model"},
               {"vocab_size", text.vocab_size},
               {"hidden_size", text.hidden_size},
               {"intermediate_size", text.intermediate_size},
               {"num_hidden_layers", text.num_hidden_layers},
               {"num_attention_heads", text.num_attention_heads},
               {"max_position_embeddings", text.max_position_embeddings},
               {"hidden_act", text.hidden_act},
               {"layer_norm_eps", text.layer_norm_eps},
               {"projection_dim", projection_dim},
               {"bos_token_id", 49406},
               {"eos_token_id", text.eos_token_id},
               {"pad_token_id", 1}};
  Json vision_json = {{"model_type", "clip_vision_model"},
                 {"hidden_size", vision.hidden_size},
                 {"intermediate_size", vision.intermediate_size},
                 {"num_hidden_layers", vision.num_hidden_layers},
                 {"num_attention_heads", vision.num_attention_heads},
                 {"image_size", vision.image_size},
                 {"patch_size", vision.patch_size},
                 {"num_channels", vision.num_channels},
                 {"hidden_act", vision.hidden_act},
                 {"layer_norm_eps", vision.layer_norm_eps},
                 {"projection_dim", projection_dim}};
  return {{"architectures", {"CLIPModel"}},
          {"model_type", "clip"},
          {"projection_dim", projection_dim},
          {"logit_scale_init_value", logit_scale_init_value},
          {"text_config", text_json},
          {"vision_config", vision_json},
          {"torch_dtype", "float32"}};
}

void ClipConfig::Check(const std::string& context) const {
  auto positive = [&](const char* name, int64_t v) { NE_CHECK(v > 0, context, ": ", name, " is ", v, ", expected > 0"); };
  positive("text_config.vocab_size", text.vocab_size);
  positive("text_config.hidden_size", text.hidden_size);
  positive("text_config.intermediate_size", text.intermediate_size);
  positive("text_config.num_hidden_layers", text.num_hidden_layers);
  positive("text_config.num_attention_heads", text.num_attention_heads);
  positive("text_config.max_position_embeddings", text.max_position_embeddings);
  positive("vision_config.hidden_size", vision.hidden_size);
  positive("vision_config.intermediate_size", vision.intermediate_size);
  positive("vision_config.num_hidden_layers", vision.num_hidden_layers);
  positive("vision_config.num_attention_heads", vision.num_attention_heads);
  positive("vision_config.patch_size", vision.patch_size);
  positive("vision_config.num_channels", vision.num_channels);
  positive("projection_dim", projection_dim);
  NE_CHECK(text.hidden_size % text.num_attention_heads == 0, context, ": text hidden_size ", text.hidden_size,
           " is not divisible by num_attention_heads ", text.num_attention_heads);
  NE_CHECK(vision.hidden_size % vision.num_attention_heads == 0, context, ": vision hidden_size ", vision.hidden_size,
           " is not divisible by num_attention_heads ", vision.num_attention_heads);
  NE_CHECK(vision.image_size >= vision.patch_size && vision.image_size % vision.patch_size == 0, context,
           ": vision image_size ", vision.image_size, " is not a multiple of patch_size ", vision.patch_size);
  for (const auto& [name, act] : {std::pair<const char*, std::string>{"text_config", text.hidden_act},
                                  {"vision_config", vision.hidden_act}})
    NE_CHECK(act == "quick_gelu" || act == "gelu", context, ": ", name, ".hidden_act is \"", act,
             "\", expected quick_gelu or gelu");
}

ClipModelImpl::ClipModelImpl(const ClipConfig& config) : config_(config) {
  config_.Check();
  text_model = register_module("text_model", ClipTextTransformer(config.text));
  vision_model = register_module("vision_model", ClipVisionTransformer(config.vision));
  visual_projection = register_module(
      "visual_projection", torch::nn::Linear(torch::nn::LinearOptions(config.vision.hidden_size, config.projection_dim).bias(false)));
  text_projection = register_module(
      "text_projection", torch::nn::Linear(torch::nn::LinearOptions(config.text.hidden_size, config.projection_dim).bias(false)));
  logit_scale = register_parameter("logit_scale", torch::tensor(static_cast<float>(config.logit_scale_init_value)));
  torch::NoGradGuard g;
  visual_projection->weight.normal_(0.0, std::pow(config.vision.hidden_size, -0.5));
  text_projection->weight.normal_(0.0, std::pow(config.text.hidden_size, -0.5));
}

at::Tensor ClipModelImpl::TextHiddenStates(const at::Tensor& ids) {
  return text_model->forward(ids.to(logit_scale.device()));
}

at::Tensor ClipModelImpl::ImageHiddenStates(const at::Tensor& pixels) {
  return vision_model->forward(pixels.to(logit_scale.device()));
}

at::Tensor ClipModelImpl::EndTokenPositions(const at::Tensor& ids) {
  const int64_t eos = config_.text.eos_token_id;
  // Legacy configs (eos_token_id 2) take the highest id, which is the end token 49407 in OpenAI's vocabulary.
  if (IsLegacyEos(eos)) return ids.argmax(-1);
  at::Tensor is_eos = ids == eos;
  NE_CHECK(is_eos.any(-1).all().item<bool>(), "CLIP text: some rows of ids lack the end token ", eos);
  return is_eos.to(torch::kInt).argmax(-1);  // first occurrence
}

at::Tensor ClipModelImpl::TextEmbeddingsUnnormalised(const at::Tensor& ids_in) {
  at::Tensor ids = ids_in.to(logit_scale.device());
  return text_projection(text_model->Pooled(ids, EndTokenPositions(ids)));  // [B,P]
}

at::Tensor ClipModelImpl::ImageEmbeddingsUnnormalised(const at::Tensor& pixels) {
  return visual_projection(vision_model->post_layernorm(vision_model->ClassToken(pixels.to(logit_scale.device()))));
}

at::Tensor ClipModelImpl::EncodeText(const at::Tensor& ids) {
  return F::normalize(TextEmbeddingsUnnormalised(ids), F::NormalizeFuncOptions().dim(-1));
}

at::Tensor ClipModelImpl::EncodeImage(const at::Tensor& pixels) {
  return F::normalize(ImageEmbeddingsUnnormalised(pixels), F::NormalizeFuncOptions().dim(-1));
}

at::Tensor ClipModelImpl::DensePatchEmbeddings(const at::Tensor& pixels) {
  ThreadPolicyScope threads(ThreadWork::kMatmul, vision_model->TypicalMacs(pixels));
  int64_t h = 0, w = 0;
  at::Tensor x = vision_model->pre_layrnorm(
      vision_model->embeddings->forward(threads.Input(pixels.to(logit_scale.device())), &h, &w));
  auto& layers = *vision_model->encoder->layers;
  const size_t n = layers.size();
  for (size_t i = 0; i + 1 < n; ++i) x = layers[i]->as<ClipEncoderLayer>()->forward(x, at::Tensor());
  // MaskCLIP: the last block's q/k attention mixes patches into a global summary; its value path keeps them local.
  at::Tensor v = layers[n - 1]->as<ClipEncoderLayer>()->ValuePath(x);
  at::Tensor patches = visual_projection(vision_model->post_layernorm(v.slice(1, 1)));  // [B,h*w,P]
  patches = F::normalize(patches, F::NormalizeFuncOptions().dim(-1));
  return threads.Output(patches.reshape({patches.size(0), h, w, patches.size(2)}));
}

at::Tensor ClipModelImpl::LogitsPerImage(const at::Tensor& image_embeds, const at::Tensor& text_embeds) {
  return logit_scale.exp() * torch::matmul(image_embeds, text_embeds.t());
}

ClipModel LoadClip(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  ClipConfig config = ClipConfig::FromHfJson(ReadJsonFile(config_path), config_path);
  ClipModel model(config);
  const std::string weights = dir + "/model.safetensors";
  LoadStateDictOptions options;
  // Older transformers saved the position_ids index buffers; they are arange() and carry no weights.
  options.rename = [](const std::string& name) {
    const std::string suffix = "embeddings.position_ids";
    bool is_ids = name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    return is_ids ? std::string() : name;
  };
  LoadStateDict(*model, LoadSafetensors(weights), weights, options);
  model->eval();
  return model;
}

void SaveClip(ClipModel model, const ClipConfig& config, const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteTextAtomically(dir + "/config.json", config.ToHfJson().dump(2) + "\n");
  TensorMap tensors = StateDict(*model);
  for (auto& [name, t] : tensors) t = t.to(torch::kFloat);
  SaveSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}

ClipBundle LoadClipBundle(const std::string& dir) {
  ClipBundle bundle;
  bundle.model = LoadClip(dir);
  bundle.config = bundle.model->config();
  bundle.tokenizer = ClipTokenizer::FromHfFiles(dir + "/vocab.json", dir + "/merges.txt");
  NE_CHECK(bundle.tokenizer.vocab_size() <= bundle.config.text.vocab_size, dir, ": tokenizer has ",
           bundle.tokenizer.vocab_size(), " tokens but the text model's vocab_size is ", bundle.config.text.vocab_size);
  return bundle;
}

void SaveClipBundle(const ClipBundle& bundle, const std::string& dir) {
  SaveClip(bundle.model, bundle.config, dir);
  bundle.tokenizer.SaveHfFiles(dir);
}

namespace {

// Resizes [N,3,h,w] in [0,1] to height x width with torchvision's antialiased bicubic (PIL's filter) and clamps the
// overshoot, as PIL's 8-bit output does.
at::Tensor ResizeLikePil(const at::Tensor& x, int64_t height, int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x.clamp(0.0, 1.0);
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{height, width})
                               .mode(torch::kBicubic)
                               .align_corners(false)
                               .antialias(true))
      .clamp(0.0, 1.0);
}
}  // namespace

at::Tensor ClipNormalise(const at::Tensor& images) {
  NE_CHECK(images.dim() == 4 && images.size(1) == 3, "ClipNormalise: images must be [N,3,H,W], got ", images.sizes());
  const at::Tensor mean = torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}, images.options()).view({1, 3, 1, 1});
  const at::Tensor std = torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}, images.options()).view({1, 3, 1, 1});
  return ((images - mean) / std).contiguous();
}

at::Tensor ClipPreprocess(const at::Tensor& image, int64_t size) {
  NE_CHECK(image.dim() == 3 && image.size(2) == 3, "ClipPreprocess: image must be [H,W,3], got ", image.sizes());
  NE_CHECK(size > 0, "ClipPreprocess: size is ", size);
  const int64_t h = image.size(0), w = image.size(1);
  NE_CHECK(h > 0 && w > 0, "ClipPreprocess: empty image ", h, "x", w);
  // torchvision Resize(size): the short side becomes size, the long side int(size * long / short).
  const int64_t new_h = h <= w ? size : static_cast<int64_t>(static_cast<double>(size) * h / w);
  const int64_t new_w = h <= w ? static_cast<int64_t>(static_cast<double>(size) * w / h) : size;
  at::Tensor x = ResizeLikePil(image.to(torch::kFloat).permute({2, 0, 1}).unsqueeze(0), new_h, new_w);
  const int64_t top = static_cast<int64_t>(std::round((new_h - size) / 2.0));
  const int64_t left = static_cast<int64_t>(std::round((new_w - size) / 2.0));
  return ClipNormalise(x.slice(2, top, top + size).slice(3, left, left + size))[0];
}

at::Tensor ClipCentredWindows(const at::Tensor& image, int64_t crop, const at::Tensor& centres, int64_t size) {
  NE_CHECK(image.dim() == 3 && image.size(2) == 3, "ClipCentredWindows: image must be [H,W,3], got ", image.sizes());
  NE_CHECK(crop >= 1 && size >= 1, "ClipCentredWindows: crop ", crop, " and size ", size, " must be >= 1");
  NE_CHECK(centres.dim() == 2 && centres.size(1) == 2, "ClipCentredWindows: centres must be [N,2], got ",
           centres.sizes());
  const int64_t h = image.size(0), w = image.size(1);
  const at::Tensor chw = image.to(torch::kFloat).permute({2, 0, 1}).unsqueeze(0);
  // Pixel (y, x) of the image is (y + crop/2, x + crop/2) of the padded one, so its window starts at (y, x) there.
  const at::Tensor padded =
      F::pad(chw, F::PadFuncOptions({crop / 2, crop / 2, crop / 2, crop / 2}).mode(torch::kReplicate))[0];
  const at::Tensor yx = centres.to(torch::kCPU, torch::kLong).contiguous();
  auto pixel = yx.accessor<int64_t, 2>();
  std::vector<at::Tensor> windows;
  windows.reserve(yx.size(0));
  for (int64_t i = 0; i < yx.size(0); ++i) {
    const int64_t y = pixel[i][0], x = pixel[i][1];
    NE_CHECK(y >= 0 && y < h && x >= 0 && x < w, "ClipCentredWindows: centre (", y, ", ", x, ") is outside the ", h,
             "x", w, " image");
    windows.push_back(padded.slice(1, y, y + crop).slice(2, x, x + crop));
  }
  if (windows.empty()) return torch::empty({0, 3, size, size}, chw.options());
  return ClipNormalise(ResizeLikePil(torch::stack(windows), size, size));
}

}  // namespace nerfedit
