// The edit list stored beside a checkpoint (RUN/edits.json): the edits applied, in order, to the trained field.
//   {"version": 1, "edits": [
//     {"op": "delete",    "selection": {...}},
//     {"op": "extract",   "selection": {...}},
//     {"op": "recolor",   "selection": {...}, "mode": "color", "target": [r,g,b], "source": [r,g,b]},
//     {"op": "recolor",   "selection": {...}, "mode": "hue", "degrees": d},
//     {"op": "recolor",   "selection": {...}, "mode": "affine", "matrix": [9], "bias": [3], "prompt": "..."},
//     {"op": "transform", "selection": {...}, "matrix": [16 floats, row-major]},
//     {"op": "compose",   "selection": {...}, "matrix": [...], "source_run": "path"}]}
// "selection" is Selection::ToJson(); every wrapper's Config() is such an entry.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "fields/field.h"

namespace nerfedit {

struct EditList {
  static constexpr int kVersion = 1;
  std::vector<nlohmann::json> edits;

  // Strict: a newer version, unknown keys or ops, bad matrices, colours or selections throw naming the file, the
  // edit index and the key.
  static EditList Load(const std::string& path);
  static EditList FromJson(const nlohmann::json& json, const std::string& context);
  nlohmann::json ToJson() const;
  void Save(const std::string& path) const;  // atomic (util/atomic_file.h)

  void Push(nlohmann::json edit);  // validates first (the list stays unchanged on error)
  nlohmann::json Pop();            // undo: removes and returns the last edit; throws when empty
  bool empty() const { return edits.empty(); }
  size_t size() const { return edits.size(); }
};

// Throws unless `edit` is a well-formed edit-list entry (`context` names it in messages).
void ValidateEdit(const nlohmann::json& edit, const std::string& context);

// Wraps `base` in one field wrapper per edit, in order (edit i sees the result of edits 0..i-1). load_run gives the
// field of a compose edit's "source_run"; it may be empty when the list has no compose edit.
FieldPtr ApplyEdit(FieldPtr base, const nlohmann::json& edit, const std::function<FieldPtr(const std::string&)>& load_run,
                   const std::string& context = "edit");
FieldPtr ApplyEdits(FieldPtr base, const EditList& list, const std::function<FieldPtr(const std::string& run)>& load_run);

}  // namespace nerfedit
