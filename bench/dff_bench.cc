// bench/dff_procedural's driver: Distilled Feature Fields on the built-in procedural scene, whose generator gives
// exact answers: label maps for 3D segmentation, and renders of the same scene with an object deleted, recoloured
// or moved for edit fidelity, and local text edits (a recolour fitted to a prompt) judged by hue. Last line:
// text_miou click_miou delete_psnr recolor_psnr translate_psnr leakage_psnr feature_overhead text_edit_success
// text_edit_leakage_psnr text_edit_s. `make demo` also runs it (--overhead 0 --html FILE) for its report's
// selection/edit section.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "app/edit_support.h"
#include "data/image_io.h"
#include "data/procedural_scene.h"
#include "edit/edit_list.h"
#include "eval/image_metrics.h"
#include "methods/dff/dff_query.h"
#include "engine/trainer.h"
#include "methods/dff/dff_method.h"
#include "methods/dff/text_recolor.h"
#include "models2d/small_clip_data.h"
#include "methods/nerf/nerf_method.h"
#include "util/json_reader.h"
#include "util/runtime.h"

using namespace nerfedit;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string scene, teacher, out, config, html;
  double budget = 240;
  int64_t steps = 0;     // > 0: train this many steps instead of for `budget` seconds (the demo: same on every machine)
  bool overhead = true;  // also train plain nerf for as many steps, to measure the feature head's overhead
  int64_t text_edits = 2;       // text recolours per object (0: none)
  int64_t text_edit_steps = 100;
};

// A fixed-width figure: images of one row stay the same size whatever their captions say.
std::string Figure(const std::string& src, const std::string& caption) {
  return "<figure style=\"display:inline-block;width:192px;margin:4px;vertical-align:top\"><img src=\"" + src +
         "\" style=\"width:192px;height:192px;image-rendering:pixelated\"><figcaption>" + caption +
         "</figcaption></figure>";
}

// PSNR over the pixels where mask [H,W] is true.
double MaskedPsnr(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  auto m = mask.unsqueeze(-1).expand_as(a);
  const double mse = (a - b).pow(2).index({m}).mean().item<double>();
  return -10 * std::log10(std::max(mse, 1e-10));
}

// The hues of the small CLIP's chromatic colour words (its palette: white and grey have no hue).
std::vector<std::pair<std::string, double>> ChromaticHues() {
  std::vector<std::pair<std::string, double>> hues;
  for (const CaptionColour& c : CaptionColours()) {
    const at::Tensor rgb = torch::tensor({c.rgb[0], c.rgb[1], c.rgb[2]}).view({1, 1, 3});
    const ForegroundHue h = MeanForegroundHue(rgb, torch::ones({1, 1}));
    if (h.saturation > 0.3) hues.emplace_back(c.name, h.hue_deg);
  }
  return hues;
}

struct TextEditFigures {
  double success = 0, leakage_psnr = 0, seconds = 0;
  int64_t edits = 0;
};

// Local text edits (issue #15 item 5): each object, selected by its name, recoloured by FitTextRecolor to
// "<colour> <shape>" for `per_object` colours other than its own; judged without the CLIP: the edited object's mean
// hue over every held-out view (exact labels) must be nearest the named colour's palette hue, and the rest of the
// image must stay (leakage PSNR over pixels not of the object).
TextEditFigures MeasureTextEdits(NerfModel& model, const FieldPtr& trained, const Teacher& teacher,
                                 const ProceduralScene& scene, const std::vector<std::string>& names,
                                 const Dataset& test, const Args& args, std::ostringstream& html) {
  TextEditFigures f;
  const auto hues = ChromaticHues();
  const ClipBundle clip = LoadClipBundle(teacher.options().dir);
  html << "<h3>Local text edits: select by name, recolour by a prompt (CLIP loss on the selection)</h3><div>";
  fs::create_directories(args.out + "/text_edits");
  for (size_t k = 0; k < scene.objects.size(); ++k) {
    const std::string& name = scene.objects[k].name;
    const std::string shape = name.substr(name.rfind(' ') + 1), colour = name.substr(0, name.find(' '));
    const Selection selection = TextSelection(teacher, name, names);
    for (int64_t j = 0, used = 0; used < args.text_edits && j < static_cast<int64_t>(hues.size()); ++j) {
      const auto& [target, target_hue] = hues[(k * 2 + j) % hues.size()];
      if (target == colour) continue;
      ++used;
      const std::string prompt = target + " " + shape;
      model.set_field(trained);
      const double t0 = NowSeconds();
      const TextRecolorOptions options =
          TextRecolorOptions().steps(args.text_edit_steps).negatives(DefaultNegatives(teacher, prompt)).progress(false);
      const TextRecolorResult fit = FitTextRecolor(model, selection, clip, prompt, options);
      f.seconds += NowSeconds() - t0;
      std::vector<at::Tensor> before, after, mask;
      for (int64_t v = 0; v < test.size(); ++v) before.push_back(model.RenderColour(test.cameras[v]).rgb);
      model.set_field(std::make_shared<RecolorField>(trained, selection, fit.recolor));
      double leak = 0;
      for (int64_t v = 0; v < test.size(); ++v) {
        after.push_back(model.RenderColour(test.cameras[v]).rgb);
        mask.push_back((test.labels[v] == static_cast<int>(k) + 2).to(torch::kFloat));
        leak += MaskedPsnr(after[v], before[v], mask[v] < 0.5f) / test.size();
      }
      const ForegroundHue got = MeanForegroundHue(torch::cat(after), torch::cat(mask));
      std::string nearest;
      double best = 1e9;
      for (const auto& [n, h] : hues) {
        if (HueDistanceDeg(got.hue_deg, h) < best) best = HueDistanceDeg(got.hue_deg, h), nearest = n;
      }
      const bool ok = got.hue_deg >= 0 && nearest == target;
      f.success += ok;
      f.leakage_psnr += leak;
      ++f.edits;
      std::printf("  text edit %-16s -> \"%s\": D_CLIP %.3f -> %.3f, hue %.0f deg (nearest %s) %s, leakage %.2f dB\n",
                  name.c_str(), prompt.c_str(), fit.clip_loss_start, fit.clip_loss_end, got.hue_deg, nearest.c_str(),
                  ok ? "ok" : "MISSED", leak);
      const std::string file = "text_edits/" + std::to_string(k) + "_" + target + ".png";
      SaveImage(args.out + "/" + file, torch::cat({before[0], after[0]}, 1));
      html << Figure(file, "\"" + name + "\" -> \"" + prompt + "\"" + (ok ? "" : " (missed)"));
    }
  }
  model.set_field(trained);
  html << "</div>";
  if (f.edits > 0) {
    f.success /= f.edits;
    f.leakage_psnr /= f.edits;
    f.seconds /= f.edits;
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log as they happen, not at exit
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--scene") args.scene = v;
    else if (k == "--teacher") args.teacher = v;
    else if (k == "--out") args.out = v;
    else if (k == "--config") args.config = v;
    else if (k == "--budget") args.budget = std::stod(v);
    else if (k == "--steps") args.steps = std::stoll(v);
    else if (k == "--overhead") args.overhead = v != "0";
    else if (k == "--html") args.html = v;
    else if (k == "--text-edits") args.text_edits = std::stoll(v);
    else if (k == "--text-edit-steps") args.text_edit_steps = std::stoll(v);
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 1; }
  }
  try {
    ConfigureThreads();
    DffConfig config = DffConfig::FromJson(ReadJsonFile(args.config), args.config);
    config.nerf.data = args.scene;
    config.teacher = args.teacher;
    config.nerf.trainer.time_budget_s = args.steps > 0 ? 0 : args.budget;
    if (args.steps > 0) config.nerf.trainer.steps = args.steps;

    // 1. dff within the budget, then plain nerf for the same number of steps: the feature head's overhead.
    const std::string dff_dir = args.out + "/dff";
    auto dff = StartRun(dff_dir, [&] { return std::make_unique<DffMethod>(config, dff_dir, false); }, {false, true});
    const double dff_psnr = dff->Train().summary["psnr_db"].get<double>();
    const int64_t steps = dff->progress().step;
    double overhead = 0;
    if (args.overhead) {
      NerfConfig plain = config.nerf;
      plain.field = "hash_grid";  // the dff field's radiance part alone
      plain.field_config = config.nerf.field_config.value("radiance", nlohmann::json::object());
      plain.trainer.time_budget_s = 0;
      plain.trainer.steps = steps;
      plain.trainer.eval_every = 0;
      // The same number of steps: with a fixed step count the lr schedule matches too.
      auto nerf = StartRun(args.out + "/nerf", [&] { return std::make_unique<NerfMethod>(plain); }, {true, false});
      nerf->Train();
      overhead = dff->progress().train_seconds / nerf->progress().train_seconds;
      std::printf("dff: %lld steps in %.1f s (held-out PSNR %.2f dB); nerf: same steps in %.1f s\n",
                  static_cast<long long>(steps), dff->progress().train_seconds, dff_psnr,
                  nerf->progress().train_seconds);
    } else {
      std::printf("dff: %lld steps in %.1f s (held-out PSNR %.2f dB)\n", static_cast<long long>(steps),
                  dff->progress().train_seconds, dff_psnr);
    }

    auto model = LoadDffRun(dff_dir, "auto", nullptr);
    const FieldPtr trained = model->field();
    // The bench swaps fields per view; each swap re-estimates the occupancy grid as an edited run's loading does.
    auto use_field = [&model](FieldPtr field) {
      model->set_field(std::move(field));
      model->RebuildOccupancyGrid();
    };
    Teacher teacher = LoadRunTeacher(dff_dir);
    std::ostringstream html;  // the demo report's section
    fs::create_directories(args.out + "/selection");
    html << "<h2>Select by text, then edit (Distilled Feature Fields)</h2><p>Teacher: " << teacher.Describe()
         << ". Each object is queried by its name against the scene's other names; masks on held-out view 0, IoU "
            "against the generator's exact labels over every held-out view.</p><div>";
    const auto& dff_method = static_cast<DffMethod&>(dff->method());
    const Dataset& test = dff_method.test_set();
    const Dataset& train = dff_method.train_set();
    const ProceduralScene scene = ProceduralScene::FromJson(ReadJsonFile(
        (fs::is_directory(args.scene) ? fs::path(args.scene) / "transforms.json" : fs::path(args.scene)).string())["scene"]);
    const std::vector<std::string> names = SceneObjectNames(args.scene);  // "ground" + the objects, label = index + 1

    // 2. Text queries: each object by its name against the other names; IoU over all held-out views.
    double text_iou_sum = 0, click_iou_sum = 0;
    const int num_objects = static_cast<int>(scene.objects.size());
    double query_ms = 0;
    for (int k = 0; k < num_objects; ++k) {
      const std::string& name = scene.objects[k].name;
      const double t0 = NowSeconds();
      Selection text = TextSelection(teacher, name, names);
      const SelectionView first = RenderSelection(*model, text, test.cameras[0]);  // timed, then view 0 below
      query_ms += (NowSeconds() - t0) * 1000 / num_objects;
      // Click: the training view showing the object largest, at the object pixel nearest its label centroid.
      auto areas = (train.labels == 2 + k).sum({1, 2});
      const int64_t view = areas.argmax().item<int64_t>();
      auto pixels = torch::nonzero(train.labels[view] == 2 + k).to(torch::kFloat);  // [P,2] (y, x)
      auto nearest = (pixels - pixels.mean(0)).norm(2, 1).argmin().item<int64_t>();
      Selection click = ClickSelection(*model, train.cameras[view], pixels[nearest][1].item<double>() + 0.5,
                                       pixels[nearest][0].item<double>() + 0.5,
                                       SelectionOptions().threshold(0.9));
      at::Tensor mt = torch::zeros({0}, torch::kBool), mc = mt, truth = mt;
      for (int64_t v = 0; v < test.size(); ++v) {
        auto t = test.labels[v] == 2 + k;
        mt = torch::cat({mt, (v == 0 ? first : RenderSelection(*model, text, test.cameras[v])).mask.reshape(-1)});
        mc = torch::cat({mc, RenderSelection(*model, click, test.cameras[v]).mask.reshape(-1)});
        truth = torch::cat({truth, t.reshape(-1)});
      }
      const double ti = MaskIou(mt, truth), ci = MaskIou(mc, truth);
      text_iou_sum += ti;
      click_iou_sum += ci;
      const std::string file = "selection/" + std::to_string(k) + ".png";
      SaveImage(args.out + "/" + file, SelectionOverlay(first));
      char caption[160];
      std::snprintf(caption, sizeof(caption), "\"%s\": IoU %.2f (click %.2f)", name.c_str(), ti, ci);
      html << Figure(file, caption);
      std::printf("  %-16s text IoU %.3f  click IoU %.3f (view %lld)\n", name.c_str(), ti, ci,
                  static_cast<long long>(view));
    }

    // 3. Edits against the scene generator's ground truth on held-out views.
    struct EditCase {
      std::string name, object;
      nlohmann::json edit;
      ProceduralScene truth;
    };
    const std::vector<float> target{0.15f, 0.75f, 0.85f};  // recolour the blue box teal
    std::vector<EditCase> cases;
    {
      ProceduralScene deleted = scene;
      deleted.objects.erase(deleted.objects.begin() + scene.FindObject("red sphere"));
      cases.push_back({"delete", "red sphere", {{"op", "delete"}}, deleted});
      ProceduralScene recoloured = scene;
      recoloured.objects[scene.FindObject("blue box")].color = {target[0], target[1], target[2]};
      cases.push_back({"recolor", "blue box", {{"op", "recolor"}, {"mode", "color"}, {"target", target}}, recoloured});
      ProceduralScene moved = scene;
      moved.objects[scene.FindObject("green cylinder")].center[0] += 0.25f;
      cases.push_back({"translate", "green cylinder", {{"op", "transform"}, {"matrix", TranslationMatrix({0.25f, 0, 0})}}, moved});
    }
    html << "</div><h3>Edits on held-out view 0: before, after, the generator's ground truth</h3>";
    std::map<std::string, double> edit_psnr;
    double leakage_sum = 0;
    int leakage_count = 0;
    fs::create_directories(args.out + "/edits");
    for (auto& c : cases) {
      Selection selection = TextSelection(teacher, c.object, names);
      c.edit["selection"] = selection.ToJson();
      if (c.name == "recolor") {
        use_field(trained);
        c.edit = MakeRecolorEdit(*model, selection, {target[0], target[1], target[2]});
      }
      EditList list;
      list.Push(c.edit);
      double psnr_sum = 0, leak_sum = 0;
      for (int64_t v = 0; v < test.size(); ++v) {
        use_field(trained);
        RenderedView before = model->RenderColour(test.cameras[v]);
        use_field(ApplyEdits(trained, list, nullptr));
        RenderedView after = model->RenderColour(test.cameras[v]);
        ProceduralRender truth = RenderProcedural(c.truth, test.cameras[v]);
        ProceduralRender original = RenderProcedural(scene, test.cameras[v]);
        psnr_sum += Psnr(after.rgb, truth.rgb);
        // Pixels the edit must not touch: where the true edited scene equals the true original (this excludes the
        // object, where it moves to, and its shadow).
        auto untouched = ((truth.rgb - original.rgb).abs().amax(-1) < 1e-3);
        leak_sum += MaskedPsnr(after.rgb, before.rgb, untouched);
        if (v == 0) {
          SaveImage(args.out + "/edits/" + c.name + "_before.png", before.rgb);
          SaveImage(args.out + "/edits/" + c.name + "_render.png", after.rgb);
          SaveImage(args.out + "/edits/" + c.name + "_truth.png", truth.rgb);
        }
      }
      edit_psnr[c.name] = psnr_sum / test.size();
      leakage_sum += leak_sum / test.size();
      ++leakage_count;
      std::printf("  %-9s %-16s PSNR vs truth %.2f dB, leakage PSNR %.2f dB\n", c.name.c_str(), c.object.c_str(),
                  edit_psnr[c.name], leak_sum / test.size());
      char heading[200], caption[64];
      std::snprintf(heading, sizeof(heading), "%s \"%s\": %.2f dB against the truth, leakage %.2f dB",
                    c.name.c_str(), c.object.c_str(), edit_psnr[c.name], leak_sum / test.size());
      std::snprintf(caption, sizeof(caption), "edited (%.2f dB)", edit_psnr[c.name]);
      html << "<div><p><b>" << heading << "</b></p>" << Figure("edits/" + c.name + "_before.png", "before")
           << Figure("edits/" + c.name + "_render.png", caption)
           << Figure("edits/" + c.name + "_truth.png", "truth (re-rendered scene)") << "</div>";
    }
    use_field(trained);
    const TextEditFigures text_edits = MeasureTextEdits(*model, trained, teacher, scene, names, test, args, html);
    std::printf("query+render latency (new text query, %lldx%lld view): %.0f ms\n",
                static_cast<long long>(test.cameras[0].width), static_cast<long long>(test.cameras[0].height), query_ms);
    char line[400];
    std::snprintf(line, sizeof(line),
                  "text_miou=%.3f click_miou=%.3f delete_psnr=%.2f recolor_psnr=%.2f translate_psnr=%.2f "
                  "leakage_psnr=%.2f feature_overhead=%.2f text_edit_success=%.2f text_edit_leakage_psnr=%.2f "
                  "text_edit_s=%.1f",
                  text_iou_sum / num_objects, click_iou_sum / num_objects, edit_psnr["delete"], edit_psnr["recolor"],
                  edit_psnr["translate"], leakage_sum / leakage_count, overhead, text_edits.success,
                  text_edits.leakage_psnr, text_edits.seconds);
    if (!args.html.empty()) {
      html << "<p><code>" << line << "</code> (feature_overhead 0: not measured here; see bench/dff_procedural)</p>";
      std::ofstream(args.html) << html.str();
    }
    std::printf("%s\n", line);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
