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
#include "methods/dff/dff_trainer.h"
#include "methods/nerf/nerf_checkpoint.h"
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
    app.add_option("--negatives", negatives, "comma-separated negative labels (default: the scene's other objects)");
    app.add_option("--threshold", threshold, "probability above which a point is selected")->check(CLI::Range(0.0, 1.0));
    app.add_option("--temperature", temperature, "softmax temperature of text queries")->check(CLI::PositiveNumber);
    app.add_option("--box", box, "restrict to a box xmin,ymin,zmin,xmax,ymax,zmax");
  }

  Selection Build(NerfModel& model, const std::string& run) const {
    const int given = !text.empty() + !click.empty() + !patch.empty();
    NE_CHECK(given == 1, "give exactly one query: text, --click VIEW:X,Y or --patch IMAGE (got ", given, ")");
    SelectionOptions options;
    options.threshold(threshold).temperature(temperature);
    if (!box.empty()) {
      std::vector<float> b = ParseFloatList(box, "--box");
      NE_CHECK(b.size() == 6, "--box needs 6 numbers xmin,ymin,zmin,xmax,ymax,zmax, got ", b.size());
      options.box(b);
    }
    if (!click.empty()) {
      const auto colon = click.find(':');
      NE_CHECK(colon != std::string::npos, "--click must be VIEW:X,Y, got \"", click, "\"");
      const int64_t view = ParseIndexList(click.substr(0, colon), "--click")[0];
      std::vector<float> xy = ParseFloatList(click.substr(colon + 1), "--click");
      NE_CHECK(xy.size() == 2, "--click must be VIEW:X,Y, got \"", click, "\"");
      const auto cameras = model.TrainingCameras();
      NE_CHECK(view >= 0 && view < static_cast<int64_t>(cameras.size()), "--click view ", view, " is not one of the ",
               cameras.size(), " training views");
      return ClickSelection(model, cameras[view], xy[0], xy[1], options);
    }
    Teacher teacher = LoadRunTeacher(model.config(), run);
    if (!patch.empty()) return PatchSelection(teacher, LoadImageFloat(patch, {1, 1, 1}), options);
    std::vector<std::string> negative_list;
    if (!negatives.empty()) {
      negative_list = SplitList(negatives);
    } else {
      negative_list = SceneObjectNames(model.config().data);
    }
    return TextSelection(teacher, text, negative_list, options);
  }
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
  std::vector<float> rgb = ParseFloatList(text, "recolor");
  NE_CHECK(rgb.size() == 3, "colour must be #rrggbb or r,g,b in [0,1], got \"", text, "\"");
  return rgb;
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
  auto model = LoadNerfRun(run, device);
  Selection selection = query.Build(*model, run);
  const auto cameras = model->TrainingCameras();
  const std::vector<int64_t> views = views_text.empty() ? std::vector<int64_t>{0} : ParseIndexList(views_text, "--view");
  fs::create_directories(out);
  for (int64_t v : views) {
    NE_CHECK(v >= 0 && v < static_cast<int64_t>(cameras.size()), "--view ", v, " is not one of the ", cameras.size(),
             " training views");
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
                 "scale=S | compose=OTHER_RUN (inserts OTHER_RUN's selection, optionally with translate via --at)")
      ->required();
  std::string at_text;
  app.add_option("--at", at_text, "compose: translation x,y,z of the inserted region");
  app.add_option("--out", out, "the edited run folder to create")->required();
  app.add_option("--device", device, "cpu | cuda | auto");
  if (int code = ParseCommandLine(app, argc, argv); code >= 0) return code;

  const auto eq = op.find('=');
  const std::string name = op.substr(0, eq), arg = eq == std::string::npos ? "" : op.substr(eq + 1);
  auto model = LoadNerfRun(run, device);
  nlohmann::json edit;
  if (name == "compose") {
    NE_CHECK(!arg.empty(), "--op compose=OTHER_RUN needs the run to take the region from");
    auto other = LoadNerfRun(arg, device);
    Selection selection = query.Build(*other, arg);
    std::vector<float> t = at_text.empty() ? std::vector<float>{0, 0, 0} : ParseFloatList(at_text, "--at");
    NE_CHECK(t.size() == 3, "--at needs x,y,z");
    edit = {{"op", "compose"}, {"source_run", fs::absolute(arg).string()}, {"selection", selection.ToJson()},
            {"matrix", Translation(t)}};
  } else {
    Selection selection = query.Build(*model, run);
    edit = {{"selection", selection.ToJson()}};
    if (name == "delete" || name == "extract") {
      edit["op"] = name;
    } else if (name == "recolor") {
      const std::vector<float> target = ParseColour(arg);
      edit = MakeRecolorEdit(*model, selection, {target[0], target[1], target[2]});
    } else if (name == "hue") {
      edit["op"] = "recolor";
      edit["mode"] = "hue";
      edit["degrees"] = ParseFloatList(arg, "hue").at(0);
    } else if (name == "translate") {
      std::vector<float> t = ParseFloatList(arg, "translate");
      NE_CHECK(t.size() == 3, "translate needs x,y,z, got \"", arg, "\"");
      edit["op"] = "transform";
      edit["matrix"] = Translation(t);
    } else if (name == "rotate" || name == "scale") {
      std::vector<float> v = ParseFloatList(arg, name);
      NE_CHECK(name == "rotate" ? v.size() == 4 : v.size() == 1 && v[0] > 0,
               name == "rotate" ? "rotate needs ax,ay,az,DEGREES" : "scale needs one positive factor", ", got \"", arg, "\"");
      const at::Tensor pivot = MeasureSelection(*model, selection).centroid;
      edit["op"] = "transform";
      edit["matrix"] = AboutPivot(name == "rotate" ? RotationMatrix(v) : torch::eye(3) * v[0], pivot);
    } else {
      NE_FAIL("unknown --op \"", op, "\" (delete, extract, recolor=#rrggbb, hue=DEG, translate=x,y,z, rotate=ax,ay,az,DEG, "
              "scale=S, compose=RUN)");
    }
  }
  WriteEditedRun(run, out, {edit}, device);  // checks that the edited run loads
  std::printf("wrote %s: %s (render it with `nerfedit render %s --out DIR`)\n", out.c_str(), op.c_str(), out.c_str());
  return 0;
}

}  // namespace nerfedit
