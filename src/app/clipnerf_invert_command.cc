// `nerfedit clipnerf invert`: CLIP-NeRF's inversion of a photo (methods/clipnerf/clipnerf_invert.h) into a trained
// generator's camera, shape code and appearance code; writes the codes file `clipnerf edit --codes` reads, the fit and
// novel views. With --unseen N it measures inversion on N new instances of the run's category instead (the bench's
// invert_psnr / invert_novel_psnr, printed as the last line).
#include <cmath>
#include <filesystem>
#include <memory>

#include "app/cli_util.h"
#include "data/image_io.h"
#include "methods/clipnerf/clipnerf_clip.h"
#include "methods/clipnerf/clipnerf_invert.h"
#include "methods/clipnerf/clipnerf_run.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

int ClipnerfInvertCommand(int argc, char** argv) {
  CLI::App app{
      "Invert a photo into a trained clipnerf generator (CLIP-NeRF Sec. 3.5): alternate the camera (on the "
      "run's pose prior), the shape code (with decaying noise) and the appearance code, each by an image "
      "loss plus a CLIP-distance term. Writes DIR/codes.json (for `clipnerf edit --codes`), DIR/fit.png and "
      "DIR/novel_*.png. --unseen N measures it on N new instances of the run's category instead."};
  app.name("nerfedit clipnerf invert");
  std::string run, image, out, clip_dir, device = "auto";
  int64_t unseen = 0, eval_views = 2, novel = 8;
  bool no_clip = false;
  InversionOptions o;
  int64_t rounds = o.rounds(), camera_steps = o.camera_steps(), shape_steps = o.shape_steps(),
          appearance_steps = o.appearance_steps(), seed = 0;
  double lambda_v = o.lambda_v(), lambda_s = o.lambda_s(), lambda_a = o.lambda_a(), code_lr = o.code_lr();
  int64_t max_fit_size = o.max_fit_size();
  app.add_option("run", run, "trained clipnerf run folder")->required();
  app.add_option("--image", image, "the photo (PNG/JPEG, the run's image size; alpha is composited on its bg_color)");
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--unseen", unseen, "measure on this many new instances of the run's category instead of --image")
      ->check(Positive());
  app.add_option("--eval-views", eval_views, "held-apart views per unseen instance")->check(Positive());
  app.add_option("--novel-views", novel, "orbit views of the inverted instance to write")->check(NonNegative());
  app.add_option("--clip", clip_dir, "CLIP folder for D_CLIP (default: $NERFEDIT_SMALL_CLIP or the cached small CLIP)");
  app.add_flag("--no-clip", no_clip, "drop the CLIP terms (lambda_v = lambda_s = lambda_a = 0)");
  app.add_option("--rounds", rounds, "alternations of camera, shape, appearance")->check(Positive());
  app.add_option("--camera-steps", camera_steps, "camera steps per round")->check(NonNegative());
  app.add_option("--shape-steps", shape_steps, "shape-code steps per round")->check(NonNegative());
  app.add_option("--appearance-steps", appearance_steps, "appearance-code steps per round")->check(NonNegative());
  app.add_option("--lambda-v", lambda_v, "weight of D_CLIP in the camera loss (paper 0.1)")->check(NonNegative());
  app.add_option("--lambda-s", lambda_s, "weight of D_CLIP in the shape loss (paper 0.2)")->check(NonNegative());
  app.add_option("--lambda-a", lambda_a, "weight of D_CLIP in the appearance loss (paper 0.2)")->check(NonNegative());
  app.add_option("--code-lr", code_lr, "Adam step of the codes, in units of the codes' spread")->check(Positive());
  app.add_option("--max-fit-size", max_fit_size, "render the fit at most this many pixels across")->check(Positive());
  app.add_option("--seed", seed, "seed of the noise (and of the unseen instances)")->check(NonNegative());
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  NE_CHECK((unseen > 0) != !image.empty(), "clipnerf invert: give either --image PHOTO or --unseen N");
  if (no_clip) lambda_v = lambda_s = lambda_a = 0;
  const InversionOptions options = InversionOptions()
                                       .rounds(rounds)
                                       .camera_steps(camera_steps)
                                       .shape_steps(shape_steps)
                                       .appearance_steps(appearance_steps)
                                       .lambda_v(lambda_v)
                                       .lambda_s(lambda_s)
                                       .lambda_a(lambda_a)
                                       .code_lr(code_lr)
                                       .max_fit_size(max_fit_size)
                                       .seed(static_cast<uint64_t>(seed));
  options.Check();
  const ClipnerfRunInfo info = ReadClipnerfRun(run);  // throws naming the method for another kind of run
  const PosePrior prior = PosePrior::Fit(info.cameras);
  const at::Tensor photo = image.empty() ? at::Tensor() : LoadImageFloat(image, info.config.bg_color);
  if (photo.defined()) {
    NE_CHECK(photo.size(0) == prior.intrinsics.height && photo.size(1) == prior.intrinsics.width, image, " is ",
             photo.size(1), "x", photo.size(0), " but the run ", run, " renders ", prior.intrinsics.width, "x",
             prior.intrinsics.height, " (resize or crop the photo to the run's image size)");
  }
  ClipModel clip{nullptr};
  if (lambda_v > 0 || lambda_s > 0 || lambda_a > 0)
    clip = LoadFrozenClip(clip_dir.empty() ? DefaultClipnerfClipDir() : clip_dir);
  ConfigureThreads();
  auto model = LoadClipnerfModel(info, device);
  if (clip) clip->to(model->device());
  std::filesystem::create_directories(out);
  if (unseen > 0) {
    const std::string kind = info.run_json.value("kind", "");
    NE_CHECK(!kind.empty(), run, "/run.json names no category \"kind\"; --unseen needs a category dataset's run");
    const UnseenInversionReport r = InvertUnseenInstances(*model, prior, kind, unseen, eval_views,
                                                          clip ? &clip : nullptr, options, out, out + "/images");
    WriteTextAtomically(out + "/inversion.json", r.ToJson().dump(1));
    std::printf(
        "unseen inversion: %lld instances, %lld held-apart views, %.1f s per image; fit from the mean code "
        "%.2f dB, fg %.2f dB; held-apart views with the mean code %.2f dB, fg %.2f dB\n",
        static_cast<long long>(r.instances), static_cast<long long>(r.novel_views), r.seconds_per_image, r.start_psnr,
        r.invert_fg_psnr, r.mean_code_novel_psnr, r.invert_novel_fg_psnr);
    std::printf("invert_psnr=%.2f invert_novel_psnr=%.2f\n", r.invert_psnr, r.invert_novel_psnr);
    return 0;
  }
  const InversionResult r = InvertPhoto(*model, prior, photo, clip ? &clip : nullptr, options);
  nlohmann::json codes = CodesJson(*model, r);
  codes["run"] = std::filesystem::absolute(run).string();
  codes["image"] = std::filesystem::absolute(image).string();
  codes["history"] = r.history;
  WriteTextAtomically(out + "/codes.json", codes.dump(1));
  SaveImage(out + "/fit.png", r.render);
  for (int64_t i = 0; i < novel; ++i) {
    const Camera c = prior.MakeCamera(r.azimuth + 2 * M_PI * (i + 1) / (novel + 1), r.elevation);
    char name[32];
    std::snprintf(name, sizeof(name), "/novel_%02lld.png", static_cast<long long>(i));
    SaveImage(out + name, model->RenderCamera(c, r.code).rgb);
  }
  std::printf(
      "inverted %s: camera azimuth %.1f deg, elevation %.1f deg; PSNR %.2f dB (mean code from the searched "
      "camera %.2f dB); wrote %s/codes.json, fit.png and %lld novel views\n",
      image.c_str(), r.azimuth * 180 / M_PI, r.elevation * 180 / M_PI, r.psnr, r.start_psnr, out.c_str(),
      static_cast<long long>(novel));
  return 0;
}

}  // namespace nerfedit
