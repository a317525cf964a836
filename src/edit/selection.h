// A 3D semantic selection (Distilled Feature Fields, Kobayashi et al. 2022, Sec. 3.2 "Queries"): a query embedding
// in the teacher's joint space turns each point's distilled feature f(x) into a probability p(x) of "selected".
#pragma once
#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace nerfedit {

struct SelectionOptions {
  TORCH_ARG(double, temperature) = 0.1;  // softmax temperature of text queries (> 0)
  TORCH_ARG(double, threshold) = 0.5;    // Mask(): p > threshold, in [0, 1)
  // Empty, or {xmin, ymin, zmin, xmax, ymax, zmax}: points outside get p = 0 (disambiguates repeated objects).
  TORCH_ARG(std::vector<float>, box) = {};
  // How a text query's score is made from its similarities s_q, s_i (to the query and to each negative):
  //   "softmax"  (DFF Eq. 5): p = exp(s_q/T) / (exp(s_q/T) + sum_i exp(s_i/T)) — for a few negatives naming the
  //              scene's other things; with many, the query's share is diluted below any threshold.
  //   "pairwise" (LERF's relevancy): p = min_i exp(s_q/T) / (exp(s_q/T) + exp(s_i/T)) = sigmoid((s_q - max_i s_i)/T)
  //              — for a long canonical list: p > 0.5 exactly where the query describes the point best.
  TORCH_ARG(std::string, relevancy) = "softmax";

 public:
  void Check(const std::string& context) const;  // throws naming the option and its value
};

class Selection {
 public:
  enum class Kind { kText, kFeature };

  // Text query (DFF Eq. 5, LSeg style): p(q|x) = softmax_{e in {q, negatives}}(cos(f(x), e) / temperature), the
  // query's entry. query [F]; negatives [K,F] with K >= 1 (the scene's other labels or generic negatives).
  static Selection FromText(std::string label, at::Tensor query, at::Tensor negatives, SelectionOptions options = {});
  // Click or image-patch query: p(x) = max(0, cos(f(x), query)); query [F] is the rendered feature at a clicked
  // pixel or a teacher embedding of an exemplar crop.
  static Selection FromFeature(std::string label, at::Tensor query, SelectionOptions options = {});

  // features [N,F] (any float dtype/device; the embeddings follow it); positions [N,3], or undefined when unknown
  // (2D masks): then the box is not tested. Returns [N] in [0,1] on the features' device and dtype.
  at::Tensor Probability(const at::Tensor& features, const at::Tensor& positions) const;
  // [N] bool: p > threshold (and inside the box).
  at::Tensor Mask(const at::Tensor& features, const at::Tensor& positions) const;

  // Self-contained (stores the embeddings): {"label", "kind": "text"|"feature", "query": [F], "negatives": [[F]...]
  // (text only), "temperature", "threshold", "box"}. FromJson is strict: unknown keys, missing keys, dimension
  // mismatches and bad options throw naming `context` and the key.
  nlohmann::json ToJson() const;
  static Selection FromJson(const nlohmann::json& json, const std::string& context);

  const std::string& label() const { return label_; }
  Kind kind() const { return kind_; }
  int64_t feature_dim() const { return query_.size(0); }
  const SelectionOptions& options() const { return options_; }
  const at::Tensor& query() const { return query_; }          // [F] f32 CPU
  const at::Tensor& negatives() const { return negatives_; }  // [K,F] f32 CPU; undefined for kFeature
  Selection WithThreshold(double threshold) const;

 private:
  Selection(std::string label, Kind kind, at::Tensor query, at::Tensor negatives, SelectionOptions options);

  std::string label_;
  Kind kind_ = Kind::kFeature;
  at::Tensor query_;      // [F] f32 CPU, as given (normalised when used)
  at::Tensor negatives_;  // [K,F] f32 CPU
  SelectionOptions options_;
};

// A 2D probability image from rendered (surface) features [H,W,F]: [H,W] f32. Positions are unknown in 2D, so the
// box is not tested.
at::Tensor SelectionMaskImage(const Selection& selection, const at::Tensor& features_hwf);

}  // namespace nerfedit
