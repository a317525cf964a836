// `select` and `edit`: queries of a trained feature field (text, click, image patch) rendered as 2D masks, and
// local edits written as a new run folder (the trained checkpoint plus an edit list) that every other command —
// render, eval, serve — reads like any run.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "app/cli_util.h"
#include "app/edit_support.h"
#include "app/commands.h"
#include "data/image_io.h"
#include "edit/edit_list.h"
#include "methods/dff/dff_query.h"
#include "methods/dff/dff_method.h"
#include "methods/dff/text_recolor.h"
#include "models2d/small_clip_data.h"
#include "methods/method_registry.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace nerfedit {

namespace fs = std::filesystem;

namespace {

// What to select: flags shared by `select` and `edit`.
struct QueryFlags {
  std::string text, click, patch, negatives, box;
  double threshold = 0.5, temperature = 0.1;

  void Add(CLI::App& app, const std::string& text_flag) {
    app.add_option(text_flag, text, "text query, e.g. \"red sphere\"");
    app.add_option("--click", click, "click query VIEW:X,Y (a training view index and pixel)");
    app.add_option("--patch", patch, "image-patch query: an exemplar image file");
    app.add_option("--negatives", negatives,
                   "comma-separated negative labels (default: the query's canonical negatives in the teacher's words, "
                   "e.g. the other colours for \"red\"; pass the scene's other object names when they are few and known)");
    app.add_option("--threshold", threshold, "probability above which a point is selected")->check(CLI::Range(0.0, 1.0));
    app.add_option("--temperature", temperature, "softmax temperature of text queries")->check(Positive());
    app.add_option("--box", box, "restrict to a box xmin,ymin,zmin,xmax,ymax,zmax");
  }

  // Checks the flags' syntax before anything is loaded (a typo costs no model load).
  void Parse() {
    const int given = !text.empty() + !click.empty() + !patch.empty();
    NE_CHECK(given == 1, "give exactly one query: text, --click VIEW:X,Y or --patch IMAGE (got ", given, ")");
    if (!box.empty()) {
      box_values = ParseFloatList(box, "--box");
      NE_CHECK(box_values.size() == 6, "--box needs 6 numbers xmin,ymin,zmin,xmax,ymax,zmax, got ", box_values.size());
    }
    if (!click.empty()) {
      const auto colon = click.find(':');
      NE_CHECK(colon != std::string::npos && colon > 0, "--click must be VIEW:X,Y, got \"", click, "\"");
      const std::vector<int64_t> view = ParseIndexList(click.substr(0, colon), "--click");
      click_xy = ParseFloatList(click.substr(colon + 1), "--click");
      NE_CHECK(view.size() == 1 && click_xy.size() == 2, "--click must be VIEW:X,Y, got \"", click, "\"");
      click_view = view[0];
    }
  }

  Selection Build(NerfModel& model, const std::string& run) const {
    SelectionOptions options;
    options.threshold(threshold).temperature(temperature);
    if (!box_values.empty()) options.box(box_values);
    if (!click.empty()) {
      const auto cameras = model.TrainingCameras();
      NE_CHECK(click_view >= 0 && click_view < static_cast<int64_t>(cameras.size()), "--click view ", click_view,
               " is not one of the ", cameras.size(), " training views");
      return ClickSelection(model, cameras[click_view], click_xy[0], click_xy[1], options);
    }
    Teacher teacher = LoadRunTeacher(run);
    if (!patch.empty()) return PatchSelection(teacher, LoadImageFloat(patch, {1, 1, 1}), options);
    // Without --negatives: the query's canonical negatives in the teacher's words, LERF's pairwise relevancy.
    return TextSelection(teacher, text, negatives.empty() ? std::vector<std::string>() : SplitList(negatives), options);
  }

  // Filled by Parse().
  std::vector<float> box_values, click_xy;
  int64_t click_view = -1;
};

std::vector<float> Translation(const std::vector<float>& t) { return TranslationMatrix({t[0], t[1], t[2]}); }

// Rotation by `degrees` about `axis` through `pivot` (Rodrigues), or uniform scale about it when axis is empty.
std::vector<float> AboutPivot(const at::Tensor& linear, const at::Tensor& pivot) {
  auto t = pivot - linear.matmul(pivot);
  std::vector<float> m(16, 0.0f);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) m[r * 4 + c] = linear[r][c].item<float>();
    m[r * 4 + 3] = t[r].item<float>();
  }
  m[15] = 1;
  return m;
}
at::Tensor RotationMatrix(const std::vector<float>& axis_degrees) {
  auto axis = torch::tensor({axis_degrees[0], axis_degrees[1], axis_degrees[2]});
  NE_CHECK(axis.norm().item<float>() > 0, "rotate: the axis must not be zero");
  axis = axis / axis.norm();
  const float angle = axis_degrees[3] * static_cast<float>(M_PI) / 180.0f;
  auto k = torch::zeros({3, 3});
  k[0][1] = -axis[2]; k[0][2] = axis[1]; k[1][0] = axis[2]; k[1][2] = -axis[0]; k[2][0] = -axis[1]; k[2][1] = axis[0];
  return torch::eye(3) + std::sin(angle) * k + (1 - std::cos(angle)) * k.matmul(k);
}

std::vector<float> ParseColour(const std::string& text) {
  if (!text.empty() && text[0] == '#') {
    std::array<float, 3> rgb = ParseHexColor(text, "--op recolor");
    return {rgb[0], rgb[1], rgb[2]};
  }
  NE_CHECK(!text.empty(), "--op recolor needs a colour: recolor=#rrggbb or recolor=r,g,b in [0,1]");
  std::vector<float> rgb = ParseFloatList(text, "--op recolor");
  NE_CHECK(rgb.size() == 3, "--op recolor: colour must be #rrggbb or r,g,b in [0,1], got \"", text, "\"");
  return rgb;
}

// --op NAME[=VALUES], checked before anything is loaded.
struct EditOp {
  std::string name, arg;
  std::vector<float> values;  // recolor: r,g,b; hue: degrees; translate: x,y,z; rotate: ax,ay,az,deg; scale: s
};

EditOp ParseEditOp(const std::string& op) {
  const auto eq = op.find('=');
  EditOp e{op.substr(0, eq), eq == std::string::npos ? "" : op.substr(eq + 1), {}};
  const auto numbers = [&](size_t count, const char* form) {
    NE_CHECK(!e.arg.empty(), "--op ", form, " needs ", count == 1 ? "a number" : "numbers", ", got \"", op, "\"");
    e.values = ParseFloatList(e.arg, "--op " + e.name);
    NE_CHECK(e.values.size() == count, "--op ", form, " needs ", count, count == 1 ? " number" : " numbers",
             ", got \"", op, "\"");
  };
  if (e.name == "delete" || e.name == "extract") {
    NE_CHECK(eq == std::string::npos, "--op ", e.name, " takes no value, got \"", op, "\"");
  } else if (e.name == "recolor") {
    e.values = ParseColour(e.arg);
  } else if (e.name == "hue") {
    numbers(1, "hue=DEGREES");
  } else if (e.name == "translate") {
    numbers(3, "translate=x,y,z");
  } else if (e.name == "rotate") {
    numbers(4, "rotate=ax,ay,az,DEGREES");
  } else if (e.name == "scale") {
    numbers(1, "scale=S");
    NE_CHECK(e.values[0] > 0, "--op scale needs a positive factor, got \"", op, "\"");
  } else if (e.name == "compose") {
    NE_CHECK(!e.arg.empty(), "--op compose=OTHER_RUN needs the run to take the region from");
  } else if (e.name == "text") {
    NE_CHECK(e.arg.find_first_not_of(" \t") != std::string::npos,
             "--op text=PROMPT needs a prompt, e.g. --op text=\"blue sphere\"");
  } else {
    NE_FAIL("unknown --op \"", op, "\" (delete, extract, recolor=#rrggbb, hue=DEG, translate=x,y,z, "
            "rotate=ax,ay,az,DEG, scale=S, compose=RUN, text=PROMPT)");
  }
  return e;
}

// The text edit's affine recolour, fitted with the run's teacher (or `clip_dir`); a small CLIP refuses words it
// was never trained on instead of fitting to noise.
RecolorOptions FitTextEdit(NerfModel& model, const Selection& selection, const std::string& run,
                           std::string clip_dir, const std::string& prompt, int64_t steps) {
  const Teacher teacher = LoadRunTeacher(run);
  if (clip_dir.empty()) clip_dir = teacher.options().dir;
  const std::vector<std::string> unknown = UnknownPromptWords(clip_dir, prompt);
  if (!unknown.empty()) {
    std::string words, colours, shapes;
    for (const auto& w : unknown) words += (words.empty() ? "\"" : ", \"") + w + "\"";
    for (const auto& c : CaptionColours()) colours += (colours.empty() ? "" : ", ") + c.name;
    for (const auto& c : CaptionShapes()) shapes += (shapes.empty() ? "" : ", ") + c.singular;
    NE_FAIL("--op text: the small CLIP at ", clip_dir, " was never trained on ", words, "; it knows the colours ",
            colours, " and the shapes ", shapes, " (or pass --clip with a Hugging Face CLIP folder)");
  }
  // The contrast's negatives in the fitting CLIP's words: the run's teacher's canonical phrases when it fits with it.
  std::vector<std::string> negatives;
  if (clip_dir == teacher.options().dir) negatives = DefaultNegatives(teacher, prompt);
  const TextRecolorResult fit = FitTextRecolor(model, selection, LoadClipBundle(clip_dir), prompt,
                                               TextRecolorOptions().steps(steps).negatives(negatives));
  std::printf("text \"%s\": D_CLIP %.3f -> %.3f, p(prompt) %.2f -> %.2f over training views", prompt.c_str(),
              fit.clip_loss_start, fit.clip_loss_end, fit.prompt_probability_start, fit.prompt_probability_end);
  for (int64_t v : fit.views) std::printf(" %lld", static_cast<long long>(v));
  std::printf("\n");
  return fit.recolor;
}

}  // namespace

int RunSelect(int argc, char** argv) {
  CLI::App app{"Select in 3D by text, click or image patch, and render the selection masks of chosen views."};
  app.name("nerfedit select");
  std::string run, out, views_text, device = "auto";
  QueryFlags query;
  app.add_option("run", run, "a run trained with `nerfedit dff train`")->required();
  query.Add(app, "--text");
  app.add_option("--view", views_text, "training view indices, e.g. 0,5,9 (default: 0)");
  app.add_option("--out", out, "folder for mask_K.png, prob_K.png and overlay_K.png")->required();
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;
  query.Parse();
  const std::vector<int64_t> views =
      views_text.empty() ? std::vector<int64_t>{0} : ParseIndexList(views_text, "--view");
  auto model = LoadSceneRun(run, device);
  const auto cameras = model->TrainingCameras();
  for (int64_t v : views) {
    NE_CHECK(v >= 0 && v < static_cast<int64_t>(cameras.size()), "--view ", v, " is not one of the ", cameras.size(),
             " training views");
  }
  Selection selection = query.Build(*model, run);
  fs::create_directories(out);
  for (int64_t v : views) {
    SelectionView view = RenderSelection(*model, selection, cameras[v]);
    const std::string stem = out + "/" + std::to_string(v);
    SaveImage(out + "/mask_" + std::to_string(v) + ".png", view.mask.to(torch::kFloat));
    SaveImage(out + "/prob_" + std::to_string(v) + ".png", view.probability);
    SaveImage(out + "/overlay_" + std::to_string(v) + ".png", SelectionOverlay(view));
    std::printf("view %lld: \"%s\" covers %.1f%% of the image\n", static_cast<long long>(v), selection.label().c_str(),
                100 * view.mask.to(torch::kFloat).mean().item<double>());
  }
  WriteTextAtomically(out + "/selection.json", selection.ToJson().dump(1));
  return 0;
}

int RunEdit(int argc, char** argv) {
  CLI::App app{"Edit a trained feature field locally: delete, extract, recolour, move or compose the selection. "
               "Writes a new run (checkpoint + edits.json) that render/eval/serve read like any run."};
  app.name("nerfedit edit");
  std::string run, out, op, device = "auto";
  QueryFlags query;
  app.add_option("run", run, "a run trained with `nerfedit dff train` (or an edited one: edits stack)")->required();
  query.Add(app, "--select");
  app.add_option("--op", op,
                 "delete | extract | recolor=#rrggbb | hue=DEGREES | translate=x,y,z | rotate=ax,ay,az,DEGREES | "
                 "scale=S | compose=OTHER_RUN (inserts OTHER_RUN's selection, optionally with translate via --at) | "
                 "text=PROMPT (recolours the selection so that CLIP reads it as PROMPT, e.g. text=\"blue sphere\")")
      ->required();
  std::string at_text, clip_dir;
  int64_t text_steps = TextRecolorOptions().steps();
  app.add_option("--at", at_text, "compose: translation x,y,z of the inserted region");
  app.add_option("--clip", clip_dir, "text: the CLIP folder to fit with (default: the run's teacher)");
  app.add_option("--text-steps", text_steps, "text: optimisation steps")->check(CLI::Range(1, 100000));
  app.add_option("--out", out, "the edited run folder to create")->required();
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;

  // Everything the flags say is checked before the run is loaded.
  query.Parse();
  const EditOp parsed = ParseEditOp(op);
  const std::string& name = parsed.name;
  const std::vector<float>& v = parsed.values;
  const std::vector<float> at_xyz = at_text.empty() ? std::vector<float>{0, 0, 0} : ParseFloatList(at_text, "--at");
  NE_CHECK(at_xyz.size() == 3, "--at needs x,y,z, got \"", at_text, "\"");
  NE_CHECK(!fs::exists(out) || (fs::is_directory(out) && fs::is_empty(out)), "--out ", out,
           " already exists and is not empty: choose another folder for the edited run");
  auto model = LoadSceneRun(run, device);
  nlohmann::json edit;
  if (name == "compose") {
    auto other = LoadSceneRun(parsed.arg, device);
    Selection selection = query.Build(*other, parsed.arg);
    edit = {{"op", "compose"}, {"source_run", fs::absolute(parsed.arg).string()}, {"selection", selection.ToJson()},
            {"matrix", Translation(at_xyz)}};
  } else {
    Selection selection = query.Build(*model, run);
    edit = {{"selection", selection.ToJson()}};
    if (name == "delete" || name == "extract") {
      edit["op"] = name;
    } else if (name == "recolor") {
      edit = MakeRecolorEdit(*model, selection, {v[0], v[1], v[2]});
    } else if (name == "hue") {
      edit["op"] = "recolor";
      edit["mode"] = "hue";
      edit["degrees"] = v[0];
    } else if (name == "text") {
      edit["op"] = "recolor";
      FitTextEdit(*model, selection, run, clip_dir, parsed.arg, text_steps).AddToJson(&edit);
    } else if (name == "translate") {
      edit["op"] = "transform";
      edit["matrix"] = Translation(v);
    } else {  // rotate or scale (ParseEditOp refused anything else)
      const at::Tensor pivot = MeasureSelection(*model, selection).centroid;
      edit["op"] = "transform";
      edit["matrix"] = AboutPivot(name == "rotate" ? RotationMatrix(v) : torch::eye(3) * v[0], pivot);
    }
  }
  WriteEditedRun(run, out, {edit}, device);  // checks that the edited run loads
  std::printf("wrote %s: %s (render it with `nerfedit render %s --out DIR`)\n", out.c_str(), op.c_str(), out.c_str());
  return 0;
}

}  // namespace nerfedit
