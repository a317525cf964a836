// `nerfedit clipnerf clip|mappers|edit`: CLIP-NeRF's text and exemplar edits (issue 15 items 3 and 6).
//   clip     trains (or evaluates) the chair-captioned small CLIP the mappers use by default
//   mappers  trains the CLIP mappers M_s, M_a of a run over a prompt library (RUN/mappers.pt + mappers.json)
//   edit     one feed-forward edit of an instance's codes (or a codes file's) by a text or an exemplar image
#include <cstring>
#include <filesystem>

#include "app/cli_util.h"
#include "data/image_io.h"
#include "methods/clipnerf/clipnerf_category_clip.h"
#include "methods/clipnerf/clipnerf_invert.h"  // the codes file
#include "methods/clipnerf/clipnerf_judge.h"
#include "methods/clipnerf/clipnerf_mapper.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

int ClipnerfClipCommand(int argc, char** argv) {
  CLI::App app{
      "Train the chair-captioned small CLIP that `clipnerf mappers` uses by default (renders of random "
      "chairs captioned from their exact parameters), or with --eval measure any CLIP folder's zero-shot "
      "accuracy per attribute on held-out chairs."};
  app.name("nerfedit clipnerf clip");
  std::string out = DefaultChairClipDir(), eval;
  double budget = ChairClipOptions().time_budget_seconds();
  int64_t steps = ChairClipOptions().steps(), held_out = 400;
  int threads = 1;
  int64_t image_size = ChairClipOptions().image_size(), patch_size = ChairClipOptions().patch_size();
  app.add_option("--image-size", image_size, "ViT input size")->check(Positive());
  app.add_option("--patch-size", patch_size, "ViT patch size (divides --image-size)")->check(Positive());
  app.add_option("--out", out, "folder to write (default: the cache the mappers read)");
  app.add_option("--budget", budget, "training seconds (0: --steps alone)")->check(NonNegative());
  app.add_option("--steps", steps, "training steps (upper bound)")->check(Positive());
  app.add_option("--threads", threads, "BLAS threads")->check(Positive());
  app.add_option("--eval", eval, "evaluate this CLIP folder instead of training");
  app.add_option("--held-out", held_out, "held-out chairs to evaluate on")->check(Positive());
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  ChairClipResult result;
  if (!eval.empty()) {
    ClipBundle clip = LoadOrTrainEditClip(eval, false);
    result = EvaluateChairClip(clip, held_out, 0);
  } else {
    result = TrainChairClip(ChairClipOptions()
                                .time_budget_seconds(budget)
                                .steps(steps)
                                .threads(threads)
                                .held_out_images(held_out)
                                .image_size(image_size)
                                .patch_size(patch_size),
                            out);
  }
  const nlohmann::json figures = result.ToJson();
  for (const auto& [k, v] : figures.items()) std::printf("%s=%s ", k.c_str(), v.dump().c_str());
  std::printf("\n");
  return 0;
}

int ClipnerfMappersCommand(int argc, char** argv) {
  CLI::App app{
      "Train CLIP-NeRF's CLIP mappers M_s, M_a (2-layer MLPs, CLIP dim -> 256 -> code dim) of a trained "
      "clipnerf run with its generator frozen: L = lambda_c D_CLIP(F(v, M(E(t)) + z), t) + a code-norm "
      "regulariser (in place of the paper's adversarial term, which a GLO generator lacks), over a prompt "
      "library, codes of the run's instances (the last --held-out are kept for judging edits) and its "
      "training cameras. Writes RUN/mappers.pt and RUN/mappers.json."};
  app.name("nerfedit clipnerf mappers");
  std::string run, clip_dir, prompts_file, device = "cpu";
  MapperTrainOptions o;
  int64_t steps = o.steps(), batch = o.batch(), size = o.render_size(), held_out = o.held_out();
  double lr = o.lr(), norm = o.norm_weight(), contrast = o.contrast_weight();
  app.add_option("run", run, "trained clipnerf run folder")->required();
  app.add_option("--clip", clip_dir, "a Hugging Face CLIP folder (default: the chair CLIP, trained once if absent)");
  app.add_option("--prompts", prompts_file, "prompt file, one a line (default: 8 colour + 8 shape prompts)");
  app.add_option("--steps", steps, "optimisation steps")->check(Positive());
  app.add_option("--batch", batch, "samples per step")->check(Positive());
  app.add_option("--render-size", size, "render size in pixels")->check(Positive());
  app.add_option("--held-out", held_out, "last instances never used as training codes")->check(NonNegative());
  app.add_option("--lr", lr, "Adam learning rate")->check(Positive());
  app.add_option("--norm-weight", norm, "weight of the code-norm regulariser")->check(NonNegative());
  app.add_option("--contrast-weight", contrast,
                 "weight of the cross-entropy against each prompt's rivals (0: the paper's D_CLIP alone)")
      ->check(NonNegative());
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  const ClipnerfRunInfo info = ReadClipnerfRun(run);
  const std::vector<EditPrompt> prompts = prompts_file.empty() ? DefaultPromptLibrary() : ReadPromptFile(prompts_file);
  auto model = LoadClipnerfModel(info, device);
  ClipBundle clip = LoadOrTrainEditClip(clip_dir);
  ClipMappers mappers(ClipMappersOptions()
                          .clip_dim(clip.config.projection_dim)
                          .shape_dim(info.config.shape_code_dim)
                          .appearance_dim(info.config.appearance_code_dim));
  mappers->to(model->device());
  clip.model->to(model->device());
  std::vector<std::string> texts;
  for (const auto& p : prompts) texts.push_back(p.text);
  const MapperTrainOptions options =
      o.steps(steps).batch(batch).render_size(size).held_out(held_out).lr(lr).norm_weight(norm)
          .contrast_weight(contrast).logit_scale(clip.model->logit_scale.exp().item<double>());
  const MapperTrainReport report = TrainMappers(*model, mappers, ClipImageEmbedder(clip), prompts,
                                                EncodePrompts(clip, texts), info.cameras, options);
  nlohmann::json prompt_json = nlohmann::json::array();
  for (const auto& p : prompts) prompt_json.push_back(p.text);
  SaveMappers(
      run, mappers,
      {{"clip", clip_dir.empty() ? DefaultChairClipDir() : fs::absolute(clip_dir).string()},
       {"prompts", prompt_json},
       {"held_out_from", info.num_latents - held_out},
       {"report", report.ToJson()},
       {"options", {{"steps", steps}, {"batch", batch}, {"render_size", size}, {"lr", lr}, {"norm_weight", norm},
                    {"contrast_weight", contrast}}}});
  std::printf("steps=%lld first_d_clip=%.4f final_d_clip=%.4f train_s=%.1f\n", static_cast<long long>(report.steps),
              report.first_loss, report.final_loss, report.train_seconds);
  return 0;
}

// An exemplar image for the CLIP image tower: square, >= 16 px (it is resized to the CLIP's input), RGB(A) over
// white.
at::Tensor LoadExemplar(const std::string& path) {
  NE_CHECK(fs::is_regular_file(path), "exemplar image ", path, " does not exist");
  const ImageInfo header = ReadImageInfo(path);  // throws naming the file when it is not an image
  NE_CHECK(header.width == header.height && header.width >= 16, "exemplar image ", path, " is ", header.width, "x",
           header.height,
           ": expected a square image of at least 16x16 px (an object photo or render, resized to the CLIP's input)");
  return LoadImageFloat(path, {1, 1, 1});
}

// Views of an orbit around the chair, side by side: [size, n*size, 3].
at::Tensor OrbitStrip(ClipnerfModel& model, const at::Tensor& code, int64_t n, int64_t size) {
  std::vector<at::Tensor> views;
  for (int64_t k = 0; k < n; ++k)
    views.push_back(model.RenderCamera(ChairOrbitCamera(2 * M_PI * k / n, 25 * M_PI / 180, size), code).rgb);
  return torch::cat(views, 1);
}

int ClipnerfEditCommand(int argc, char** argv) {
  CLI::App app{
      "Edit one instance of a trained clipnerf run by a text prompt or an exemplar image in one forward "
      "pass: z' = z + M(E(t)) (colour prompts move z_a through M_a, shape prompts z_s through M_s; an "
      "exemplar moves z_a by default). Writes before.png, after.png, orbit_before.png, orbit_after.png, "
      "codes_before.json, codes_after.json (the `clipnerf invert` codes format) and edit.json to --out."};
  app.name("nerfedit clipnerf edit");
  std::string run, codes_file, text, image, out, clip_dir, image_part = "appearance", device = "cpu";
  int64_t instance = -1, size = 128, orbit = 8;
  app.add_option("run", run, "trained clipnerf run folder with mappers")->required();
  auto* inst = app.add_option("--instance", instance, "instance (row of the code table)")->check(NonNegative());
  auto* codes = app.add_option("--codes", codes_file, "codes file (`clipnerf invert` writes one)");
  inst->excludes(codes);
  auto* t = app.add_option("--text", text, "prompt, e.g. \"a red chair\", \"a chair with a tall back\"");
  auto* im = app.add_option("--image", image, "exemplar image (square PNG/JPEG)");
  t->excludes(im);
  app.add_option("--image-edit", image_part, "what an exemplar edits: appearance | shape")
      ->check(CLI::IsMember({"appearance", "shape"}));
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--clip", clip_dir, "CLIP folder (default: the one the mappers were trained with)");
  app.add_option("--size", size, "render size")->check(Positive());
  app.add_option("--orbit", orbit, "views in the orbit strips (0: none)")->check(NonNegative());
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  NE_CHECK(instance >= 0 || !codes_file.empty(), "clipnerf edit: give --instance K or --codes FILE");
  NE_CHECK(!text.empty() || !image.empty(), "clipnerf edit: give --text \"...\" or --image FILE");
  const ClipnerfRunInfo info = ReadClipnerfRun(run);
  auto model = LoadClipnerfModel(info, device);
  const LoadedMappers loaded = LoadMappers(run, *model);
  ClipMappers mappers = loaded.mappers;
  at::Tensor code;
  if (instance >= 0) {
    NE_CHECK(instance < info.num_latents, "clipnerf edit: --instance ", instance, " is not one of the run's ",
             info.num_latents, " instances");
    code = model->codes()->codes[instance].detach().cpu();
  } else {
    code = ReadClipnerfCodes(codes_file, info.config.shape_code_dim, info.config.appearance_code_dim);
  }
  // Inputs are checked before the CLIP is loaded (or trained).
  EditPrompt prompt;
  at::Tensor exemplar;
  if (!text.empty()) prompt = ParseEditPrompt(text);
  if (!image.empty()) exemplar = LoadExemplar(image), prompt.text = image, prompt.shape = image_part == "shape";
  const std::string recorded = loaded.info.value("clip", "");
  ClipBundle clip =
      LoadOrTrainEditClip(!clip_dir.empty() ? clip_dir : (recorded == DefaultChairClipDir() ? "" : recorded));
  fs::create_directories(out);

  // The feed-forward edit: E(t) (or E(image)), then the mapper; timed without rendering (the bench's edit_ms).
  at::Tensor edited;
  double edit_ms = 0;
  {
    torch::NoGradGuard no_grad;
    const double start = NowSeconds();
    const at::Tensor e = exemplar.defined() ? clip.model->EncodeImage(ClipInputFromRenders(clip, exemplar.unsqueeze(0)))
                                            : EncodePrompts(clip, {text});
    edited =
        ApplyMappers(*model, mappers, code.unsqueeze(0).to(model->device()), e.to(model->device()), {prompt.shape})[0];
    edit_ms = 1e3 * (NowSeconds() - start);
  }
  // A three-quarter view from the front-left, inside the chairs' training prior.
  const Camera view = ChairOrbitCamera(-35 * M_PI / 180, 25 * M_PI / 180, size);
  const RenderedView before = model->RenderCamera(view, code.to(model->device()));
  const RenderedView after = model->RenderCamera(view, edited);
  SaveImage(out + "/before.png", before.rgb);
  SaveImage(out + "/after.png", after.rgb);
  if (orbit > 0) {
    SaveImage(out + "/orbit_before.png", OrbitStrip(*model, code.to(model->device()), orbit, size));
    SaveImage(out + "/orbit_after.png", OrbitStrip(*model, edited, orbit, size));
  }
  const nlohmann::json provenance = {{"run", run}, {"prompt", prompt.text}};
  auto codes_json = [&](const at::Tensor& c) {
    nlohmann::json j = ClipnerfCodesJson(c, info.config.shape_code_dim);
    j.update(provenance);
    return j.dump(1) + "\n";
  };
  WriteTextAtomically(out + "/codes_before.json", codes_json(code));
  WriteTextAtomically(out + "/codes_after.json", codes_json(edited));
  const Hsv hb = MeanForegroundHsv(before.rgb, before.opacity), ha = MeanForegroundHsv(after.rgb, after.opacity);
  const nlohmann::json report = {
      {"prompt", prompt.text},
      {"edits", prompt.shape ? "shape" : "appearance"},
      {"edit_ms", edit_ms},
      {"hue_before_deg", hb.hue_deg},
      {"hue_after_deg", ha.hue_deg},
      {"colour_before", ClassifyColour(hb) >= 0 ? ChairColours()[ClassifyColour(hb)].name : "none"},
      {"colour_after", ClassifyColour(ha) >= 0 ? ChairColours()[ClassifyColour(ha)].name : "none"}};
  WriteTextAtomically(out + "/edit.json", report.dump(1) + "\n");
  std::printf("edit_ms=%.2f colour_before=%s colour_after=%s out=%s\n", edit_ms,
              report["colour_before"].get<std::string>().c_str(), report["colour_after"].get<std::string>().c_str(),
              out.c_str());
  return 0;
}

}  // namespace

// -1 when argv[1] is not one of these subcommands.
int RunClipnerfEditCommands(int argc, char** argv) {
  if (argc < 2) return -1;
  if (std::strcmp(argv[1], "clip") == 0) return ClipnerfClipCommand(argc - 1, argv + 1);
  if (std::strcmp(argv[1], "mappers") == 0) return ClipnerfMappersCommand(argc - 1, argv + 1);
  if (std::strcmp(argv[1], "edit") == 0) return ClipnerfEditCommand(argc - 1, argv + 1);
  return -1;
}

}  // namespace nerfedit
