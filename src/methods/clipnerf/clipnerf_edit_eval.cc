#include "methods/clipnerf/clipnerf_edit_eval.h"

#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <random>

#include "eval/frechet_distance.h"
#include "eval/image_metrics.h"
#include "methods/clipnerf/clipnerf_edit.h"
#include "methods/clipnerf/clipnerf_judge.h"
#include "util/error.h"
#include "util/runtime.h"

namespace nerfedit {

nlohmann::json EditEvalReport::ToJson() const {
  return {{"colour_edit_success", colour_success},
          {"shape_edit_success", shape_success},
          {"app_edit_silhouette_iou", app_iou},
          {"shape_edit_hue_shift_deg", shape_hue_shift_deg},
          {"edit_ms", edit_ms},
          {"render_ms", render_ms},
          {"fd_before", fd_before},
          {"fd_after", fd_after},
          {"colour_edits", colour_edits},
          {"shape_edits", shape_edits},
          {"per_prompt", per_prompt}};
}

namespace {

struct JudgedViews {
  RenderedView front, side;
  Hsv hsv;  // of the front view
  ChairShapeMeasure shape;
};

// CLIP image embeddings [N,P] of renders [N,H,W,3], without gradients, in batches.
at::Tensor EmbedRenders(ClipBundle& clip, const at::Tensor& images) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 64)
    out.push_back(
        clip.model->EncodeImage(ClipInputFromRenders(clip, images.slice(0, i, std::min(i + 64, images.size(0))))));
  return torch::cat(out).to(torch::kDouble);
}

}  // namespace

EditEvalReport EvaluateTextEdits(ClipnerfModel& model, ClipMappers& mappers, ClipBundle& clip,
                                 const std::vector<EditPrompt>& prompts, const nlohmann::json& category,
                                 const CategoryDataset& data, const EditEvalOptions& options) {
  const int64_t n = model.codes()->codes.size(0);
  NE_CHECK(options.held_out_from() >= 0 && options.held_out_from() < n, "edit evaluation: held_out_from ",
           options.held_out_from(), " outside the run's ", n, " instances");
  NE_CHECK(category.contains("instances") && static_cast<int64_t>(category["instances"].size()) >= n,
           "edit evaluation: category.json lists fewer instances than the run's ", n);
  NE_CHECK(category.value("kind", "") == "chairs", "edit evaluation: the judges know chairs; category is ",
           category.value("kind", ""));
  torch::NoGradGuard no_grad;
  mappers->eval();
  const at::Tensor table = model.codes()->codes.detach();
  const Camera side = JudgeSideCamera(options.judge_size()), front = JudgeFrontCamera(options.judge_size());
  double render_seconds = 0;
  int64_t renders = 0;
  auto judge = [&](const at::Tensor& code) {
    JudgedViews v;
    const double start = NowSeconds();
    v.front = model.RenderCamera(front, code);
    v.side = model.RenderCamera(side, code);
    render_seconds += NowSeconds() - start, renders += 2;
    v.hsv = MeanForegroundHsv(v.front.rgb, v.front.opacity);
    v.shape = MeasureChairShape(v.side.opacity, v.front.opacity);
    return v;
  };
  std::map<int64_t, JudgedViews> before;
  auto before_of = [&](int64_t k) -> const JudgedViews& {
    if (!before.count(k)) before[k] = judge(table[k]);
    return before[k];
  };
  auto params_of = [&](int64_t k) {
    const nlohmann::json& inst = category["instances"][k];
    NE_CHECK(inst.value("index", -1) == k, "edit evaluation: category.json instance ", k, " is out of order");
    return ChairParams::FromJson(inst.at("params"));
  };

  EditEvalReport report;
  double edit_seconds = 0, colour_hits = 0, shape_hits = 0, iou_sum = 0, hue_sum = 0;
  int64_t edits = 0, hue_edits = 0;
  for (const EditPrompt& prompt : prompts) {
    int64_t applied = 0, hits = 0;
    for (int64_t k = options.held_out_from(); k < n && applied < options.instances_per_prompt(); ++k) {
      // Only instances the prompt would change: not already of the colour (judged), not already at the named end
      // of the attribute (exact parameters).
      if (!prompt.shape && ClassifyColour(before_of(k).hsv) == prompt.colour) continue;
      if (prompt.shape) {
        const int bucket = ChairShapeBuckets(params_of(k))[prompt.attribute];
        if (bucket == (prompt.direction > 0 ? 1 : 0)) continue;
      }
      const JudgedViews& b = before_of(k);
      const double start = NowSeconds();
      const at::Tensor e = EncodePrompts(clip, {prompt.text});
      const at::Tensor edited = ApplyMappers(model, mappers, table[k].unsqueeze(0), e, {prompt.shape})[0];
      edit_seconds += NowSeconds() - start, ++edits;
      const JudgedViews a = judge(edited);
      bool ok = false;
      if (prompt.shape) {
        ok = ShapeEditSucceeded(prompt.attribute, prompt.direction, b.shape, a.shape);
        if (b.hsv.hue_deg >= 0 && a.hsv.hue_deg >= 0 && b.hsv.saturation >= 0.15)
          hue_sum += HueDistanceDeg(b.hsv.hue_deg, a.hsv.hue_deg), ++hue_edits;
        ++report.shape_edits, shape_hits += ok;
      } else {
        ok = ClassifyColour(a.hsv) == prompt.colour;
        iou_sum += 0.5 * (MaskIou(b.front.opacity, a.front.opacity) + MaskIou(b.side.opacity, a.side.opacity));
        ++report.colour_edits, colour_hits += ok;
      }
      ++applied, hits += ok;
    }
    report.per_prompt.push_back({{"prompt", prompt.text}, {"applied", applied}, {"success", hits}});
    if (options.progress())
      std::fprintf(stderr, "edit \"%s\": %lld/%lld\n", prompt.text.c_str(), static_cast<long long>(hits),
                   static_cast<long long>(applied));
  }
  report.colour_success = report.colour_edits > 0 ? colour_hits / report.colour_edits : 0;
  report.shape_success = report.shape_edits > 0 ? shape_hits / report.shape_edits : 0;
  report.app_iou = report.colour_edits > 0 ? iou_sum / report.colour_edits : 0;
  report.shape_hue_shift_deg = hue_edits > 0 ? hue_sum / hue_edits : 0;
  report.edit_ms = edits > 0 ? 1e3 * edit_seconds / edits : 0;
  report.render_ms = renders > 0 ? 1e3 * render_seconds / renders : 0;

  if (options.fd()) {
    // Every instance from its training camera, before and after a random prompt of the library.
    std::vector<int64_t> image_of(n, -1);
    for (int64_t i = 0; i < data.latent_index.size(0); ++i) {
      const int64_t k = data.latent_index[i].item<int64_t>();
      if (k < n && image_of[k] < 0) image_of[k] = i;
    }
    std::vector<std::string> texts;
    std::vector<bool> shape;
    for (const auto& p : prompts) texts.push_back(p.text), shape.push_back(p.shape);
    const at::Tensor embeddings = EncodePrompts(clip, texts);
    std::mt19937_64 rng(options.seed() + 7);
    std::vector<at::Tensor> gen_before, gen_after;
    for (int64_t k = 0; k < n; ++k) {
      if (image_of[k] < 0) continue;
      const Camera& camera = data.data.cameras[image_of[k]];
      const int64_t p = static_cast<int64_t>(rng() % prompts.size());
      const at::Tensor edited =
          ApplyMappers(model, mappers, table[k].unsqueeze(0), embeddings[p].unsqueeze(0), {shape[p]})[0];
      gen_before.push_back(model.RenderCamera(camera, table[k]).rgb);
      gen_after.push_back(model.RenderCamera(camera, edited).rgb);
    }
    const at::Tensor real = EmbedRenders(clip, data.data.images);
    report.fd_before = FrechetDistance(real, EmbedRenders(clip, torch::stack(gen_before)));
    report.fd_after = FrechetDistance(real, EmbedRenders(clip, torch::stack(gen_after)));
  }
  return report;
}

}  // namespace nerfedit
