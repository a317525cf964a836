#include "edit/edit_list.h"

#include <torch/torch.h>

#include <optional>

#include "edit/edit_ops.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace {

const char* const kOps = "delete, extract, recolor, transform, compose";

struct ParsedEdit {
  std::string op;
  std::optional<Selection> selection;
  RecolorOptions recolor;
  Transform transform;
  std::string source_run;
};

ParsedEdit ParseEdit(const nlohmann::json& edit, const std::string& context) {
  NE_CHECK(edit.is_object(), context, ": expected a JSON object, got ", edit.type_name());
  JsonReader r(edit, context);
  ParsedEdit p;
  r.Required("op", &p.op);
  NE_CHECK(p.op == "delete" || p.op == "extract" || p.op == "recolor" || p.op == "transform" || p.op == "compose",
           context, ": key \"op\" is \"", p.op, "\", expected one of ", kOps);
  p.selection = Selection::FromJson(r.Sub("selection"), context + ": key \"selection\"");
  if (p.op == "recolor") {
    std::string mode;
    r.Required("mode", &mode);
    p.recolor.mode(mode);
    if (mode == "color") {
      NE_CHECK(!edit.contains("degrees"), context, ": key \"degrees\" is only valid with mode \"hue\"");
      r.Required("target", &p.recolor.target()).Required("source", &p.recolor.source());
    } else if (mode == "hue") {
      NE_CHECK(!edit.contains("target") && !edit.contains("source"), context,
               ": keys \"target\"/\"source\" are only valid with mode \"color\"");
      r.Required("degrees", &p.recolor.degrees());
    } else if (mode == "affine") {
      r.Required("matrix", &p.recolor.matrix()).Required("bias", &p.recolor.bias());
      r.Optional("prompt", &p.recolor.prompt());
    }
    p.recolor.Check(context);
  }
  if (p.op == "transform" || p.op == "compose") {
    std::vector<double> matrix;
    r.Required("matrix", &matrix);
    p.transform = Transform::FromMatrix(matrix, context + ": key \"matrix\"");
  }
  if (p.op == "compose") {
    r.Required("source_run", &p.source_run);
    NE_CHECK(!p.source_run.empty(), context, ": key \"source_run\" is empty");
  }
  r.Finish();
  return p;
}

std::string EditContext(const std::string& list_context, size_t index, const nlohmann::json& edit) {
  std::string context = list_context + ": edit " + std::to_string(index);
  if (edit.is_object() && edit.contains("op") && edit["op"].is_string()) {
    context += " (\"" + edit["op"].get<std::string>() + "\")";
  }
  return context;
}

}  // namespace

void ValidateEdit(const nlohmann::json& edit, const std::string& context) { ParseEdit(edit, context); }

EditList EditList::FromJson(const nlohmann::json& json, const std::string& context) {
  JsonReader r(json, context);
  int64_t version = 0;
  std::vector<nlohmann::json> edits;
  r.Required("version", &version);
  NE_CHECK(version <= kVersion, context, ": edit list version ", version, " is newer than this nerfedit (", kVersion,
           ")");
  NE_CHECK(version >= 1, context, ": edit list version ", version, " is invalid (expected 1 to ", kVersion, ")");
  NE_CHECK(json.contains("edits") && json["edits"].is_array(), context, ": key \"edits\" must be an array, got ",
           json.contains("edits") ? json["edits"].type_name() : "nothing");
  r.Required("edits", &edits);
  r.Finish();
  for (size_t i = 0; i < edits.size(); ++i) ValidateEdit(edits[i], EditContext(context, i, edits[i]));
  EditList list;
  list.edits = std::move(edits);
  return list;
}

EditList EditList::Load(const std::string& path) { return FromJson(ReadJsonFile(path), path); }

nlohmann::json EditList::ToJson() const { return {{"version", kVersion}, {"edits", edits}}; }

void EditList::Save(const std::string& path) const { WriteTextAtomically(path, ToJson().dump(1) + "\n"); }

void EditList::Push(nlohmann::json edit) {
  ValidateEdit(edit, EditContext("edit list", edits.size(), edit));
  edits.push_back(std::move(edit));
}

nlohmann::json EditList::Pop() {
  NE_CHECK(!edits.empty(), "edit list: nothing to undo (the list is empty)");
  nlohmann::json last = std::move(edits.back());
  edits.pop_back();
  return last;
}

FieldPtr ApplyEdit(FieldPtr base, const nlohmann::json& edit, const std::function<FieldPtr(const std::string&)>& load_run,
                   const std::string& context) {
  ParsedEdit p = ParseEdit(edit, context);
  if (p.op == "delete") return std::make_shared<DeleteField>(std::move(base), *p.selection);
  if (p.op == "extract") return std::make_shared<ExtractField>(std::move(base), *p.selection);
  if (p.op == "recolor") return std::make_shared<RecolorField>(std::move(base), *p.selection, p.recolor);
  if (p.op == "transform") return std::make_shared<TransformField>(std::move(base), *p.selection, p.transform);
  NE_CHECK(static_cast<bool>(load_run), context, ": a compose edit needs a way to load \"", p.source_run, "\"");
  FieldPtr other = load_run(p.source_run);
  NE_CHECK(other != nullptr, context, ": loading source_run \"", p.source_run, "\" gave no field");
  return std::make_shared<ComposeField>(std::move(base), std::move(other), *p.selection, p.transform, p.source_run);
}

FieldPtr ApplyEdits(FieldPtr base, const EditList& list, const std::function<FieldPtr(const std::string& run)>& load_run) {
  for (size_t i = 0; i < list.edits.size(); ++i) {
    base = ApplyEdit(std::move(base), list.edits[i], load_run, EditContext("edit list", i, list.edits[i]));
  }
  return base;
}

}  // namespace nerfedit
