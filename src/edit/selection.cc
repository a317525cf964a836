#include "edit/selection.h"

#include <torch/torch.h>

#include <cmath>

#include "util/error.h"
#include "util/json_reader.h"

namespace nerfedit {

namespace {

const char* KindName(Selection::Kind kind) { return kind == Selection::Kind::kText ? "text" : "feature"; }

// A finite, non-zero embedding as [F] or [K,F] f32 CPU (cosine similarity is undefined for a zero vector).
at::Tensor CheckedEmbedding(const at::Tensor& t, int64_t dims, const std::string& what) {
  NE_CHECK(t.defined(), what, " is undefined");
  NE_CHECK(t.dim() == dims, what, " must have ", dims, " dimension(s), got shape ", t.sizes());
  NE_CHECK(t.numel() > 0, what, " is empty (shape ", t.sizes(), ")");
  at::Tensor out = t.detach().to(at::kCPU, at::kFloat).contiguous().clone();
  NE_CHECK(torch::isfinite(out).all().item<bool>(), what, " has non-finite values");
  NE_CHECK((out.norm(2, -1) > 0).all().item<bool>(), what, " has a zero vector (its cosine similarity is undefined)");
  return out;
}

std::vector<float> ToVector(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor Normalized(const at::Tensor& x) { return x / x.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12); }

}  // namespace

void SelectionOptions::Check(const std::string& context) const {
  NE_CHECK(std::isfinite(temperature_) && temperature_ > 0, context, ": temperature must be > 0, got ", temperature_);
  NE_CHECK(threshold_ >= 0 && threshold_ < 1, context, ": threshold must be in [0, 1), got ", threshold_);
  NE_CHECK(relevancy_ == "softmax" || relevancy_ == "pairwise", context,
           ": relevancy must be softmax or pairwise, got \"", relevancy_, "\"");
  NE_CHECK(box_.empty() || box_.size() == 6, context, ": box must be empty or 6 values xmin,ymin,zmin,xmax,ymax,zmax, got ",
           box_.size(), " values");
  for (size_t i = 0; i < box_.size() && i < 3; ++i) {
    NE_CHECK(box_[i] <= box_[i + 3], context, ": box min ", box_[i], " exceeds max ", box_[i + 3], " on axis ", i);
  }
}

Selection::Selection(std::string label, Kind kind, at::Tensor query, at::Tensor negatives, SelectionOptions options)
    : label_(std::move(label)), kind_(kind), query_(std::move(query)), negatives_(std::move(negatives)),
      options_(std::move(options)) {
  options_.Check("selection \"" + label_ + "\"");
}

Selection Selection::FromText(std::string label, at::Tensor query, at::Tensor negatives, SelectionOptions options) {
  const std::string what = "text selection \"" + label + "\"";
  at::Tensor q = CheckedEmbedding(query, 1, what + ": query");
  at::Tensor n = CheckedEmbedding(negatives, 2, what + ": negatives");
  NE_CHECK(n.size(1) == q.size(0), what, ": negatives have dimension ", n.size(1), " but the query has ", q.size(0));
  return Selection(std::move(label), Kind::kText, q, n, std::move(options));
}

Selection Selection::FromFeature(std::string label, at::Tensor query, SelectionOptions options) {
  at::Tensor q = CheckedEmbedding(query, 1, "feature selection \"" + label + "\": query");
  return Selection(std::move(label), Kind::kFeature, q, at::Tensor(), std::move(options));
}

at::Tensor Selection::Probability(const at::Tensor& features, const at::Tensor& positions) const {
  NE_CHECK(features.defined(), "selection \"", label_, "\": the field returned no features (is it a feature field?)");
  NE_CHECK(features.dim() == 2 && features.size(1) == feature_dim(), "selection \"", label_, "\": features have shape ",
           features.sizes(), " but the query has dimension ", feature_dim());
  const auto opts = features.options();
  const at::Tensor f = Normalized(features);
  at::Tensor p;
  if (kind_ == Kind::kText) {
    // Embeddings are moved to the features' device/dtype when used (a no-op when they already match).
    at::Tensor e = Normalized(torch::cat({query_.unsqueeze(0), negatives_}).to(opts));  // [K+1,F]
    const at::Tensor s = f.matmul(e.t()) / options_.temperature();  // [N,K+1]
    if (options_.relevancy() == "pairwise") {
      p = torch::sigmoid(s.select(1, 0) - std::get<0>(s.slice(1, 1).max(1)));
    } else {
      p = torch::softmax(s, -1).select(1, 0);
    }
  } else {
    p = f.matmul(Normalized(query_.to(opts))).clamp_min(0).clamp_max(1);
  }
  if (!options_.box().empty() && positions.defined()) {
    NE_CHECK(positions.dim() == 2 && positions.size(1) == 3 && positions.size(0) == features.size(0),
             "selection \"", label_, "\": positions have shape ", positions.sizes(), ", expected [", features.size(0),
             ",3]");
    const auto& b = options_.box();
    at::Tensor lo = torch::tensor({b[0], b[1], b[2]}).to(positions.options());
    at::Tensor hi = torch::tensor({b[3], b[4], b[5]}).to(positions.options());
    at::Tensor inside = ((positions >= lo) & (positions <= hi)).all(1);
    p = p * inside.to(p.scalar_type());
  }
  return p;
}

at::Tensor Selection::Mask(const at::Tensor& features, const at::Tensor& positions) const {
  // p is 0 outside the box and threshold >= 0, so the box test is already part of p > threshold.
  return Probability(features, positions) > options_.threshold();
}

Selection Selection::WithThreshold(double threshold) const {
  SelectionOptions options = options_;
  options.threshold(threshold);
  return Selection(label_, kind_, query_, negatives_, options);
}

nlohmann::json Selection::ToJson() const {
  nlohmann::json j = {{"label", label_},
                      {"kind", KindName(kind_)},
                      {"query", ToVector(query_)},
                      {"temperature", options_.temperature()},
                      {"threshold", options_.threshold()},
                      {"relevancy", options_.relevancy()},
                      {"box", options_.box()}};
  if (kind_ == Kind::kText) {
    nlohmann::json negatives = nlohmann::json::array();
    for (int64_t k = 0; k < negatives_.size(0); ++k) negatives.push_back(ToVector(negatives_[k]));
    j["negatives"] = negatives;
  }
  return j;
}

Selection Selection::FromJson(const nlohmann::json& json, const std::string& context) {
  JsonReader r(json, context);
  std::string label, kind;
  std::vector<float> query;
  std::vector<std::vector<float>> negatives;
  double temperature = SelectionOptions().temperature(), threshold = SelectionOptions().threshold();
  std::vector<float> box;
  std::string relevancy = SelectionOptions().relevancy();  // absent in edit lists written before it existed
  r.Required("label", &label).Required("kind", &kind).Required("query", &query);
  r.Optional("temperature", &temperature).Optional("threshold", &threshold).Optional("box", &box);
  r.Optional("relevancy", &relevancy);
  NE_CHECK(kind == "text" || kind == "feature", context, ": key \"kind\" is \"", kind,
           "\", expected \"text\" or \"feature\"");
  if (kind == "text") {
    r.Required("negatives", &negatives);
  } else {
    NE_CHECK(!json.contains("negatives"), context, ": key \"negatives\" is only valid for kind \"text\"");
  }
  r.Finish();
  NE_CHECK(!query.empty(), context, ": key \"query\" is empty");
  const SelectionOptions options =
      SelectionOptions().temperature(temperature).threshold(threshold).box(box).relevancy(relevancy);
  options.Check(context);
  const int64_t dim = static_cast<int64_t>(query.size());
  at::Tensor q = torch::tensor(query);
  try {
    if (kind == "feature") return FromFeature(label, q, options);
    NE_CHECK(!negatives.empty(), context, ": key \"negatives\" is empty (a text query needs at least one)");
    for (size_t k = 0; k < negatives.size(); ++k) {
      NE_CHECK(static_cast<int64_t>(negatives[k].size()) == dim, context, ": negatives[", k, "] has dimension ",
               negatives[k].size(), " but \"query\" has ", dim);
    }
    at::Tensor n = torch::empty({static_cast<int64_t>(negatives.size()), dim});
    for (size_t k = 0; k < negatives.size(); ++k) n[k] = torch::tensor(negatives[k]);
    return FromText(label, q, n, options);
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(context, 0) == 0) throw;
    NE_FAIL(context, ": ", message);
  }
}

at::Tensor SelectionMaskImage(const Selection& selection, const at::Tensor& features_hwf) {
  NE_CHECK(features_hwf.defined() && features_hwf.dim() == 3, "SelectionMaskImage: features must be [H,W,F], got ",
           features_hwf.defined() ? c10::str(features_hwf.sizes()) : std::string("undefined"));
  const int64_t h = features_hwf.size(0), w = features_hwf.size(1);
  at::Tensor p = selection.Probability(features_hwf.reshape({h * w, features_hwf.size(2)}), at::Tensor());
  return p.reshape({h, w}).to(at::kFloat);
}

}  // namespace nerfedit
