#include "methods/clipnerf/clipnerf_edit.h"

#include <torch/torch.h>

#include <cmath>

#include "methods/clipnerf/clipnerf_method.h"
#include "util/error.h"

namespace nerfedit {

at::Tensor MixCodes(const ClipnerfModel& model, const at::Tensor& a, const at::Tensor& b, double shape_t,
                    double appearance_t) {
  const int64_t c = model.config().code_dim();
  NE_CHECK(a.dim() == 1 && a.size(0) == c && b.dim() == 1 && b.size(0) == c, "clipnerf code edit: codes must be [",
           c, "] = [z_s | z_a], got ", a.sizes(), " and ", b.sizes());
  NE_CHECK(std::isfinite(shape_t) && std::isfinite(appearance_t), "clipnerf code edit: mixing weights must be finite");
  const at::Tensor shape = torch::lerp(model.ShapePart(a), model.ShapePart(b), shape_t);
  const at::Tensor appearance = torch::lerp(model.AppearancePart(a), model.AppearancePart(b), appearance_t);
  return torch::cat({shape, appearance}).detach();
}

nlohmann::json DisentanglementReport::ToJson() const {
  return {{"pairs", pairs},
          {"hue_pairs", hue_pairs},
          {"app_swap_iou", app_swap_iou},
          {"app_swap_gt_iou", app_swap_gt_iou},
          {"before_gt_iou", before_gt_iou},
          {"shape_swap_hue_shift_deg", shape_swap_hue_shift_deg},
          {"shape_swap_gt_hue_shift_deg", shape_swap_gt_hue_shift_deg},
          {"app_swap_hue_change_deg", app_swap_hue_change_deg},
          {"per_pair", per_pair}};
}

DisentanglementReport MeasureDisentanglement(ClipnerfModel& model, const CategoryDataset& data,
                                             const DisentanglementOptions& options) {
  const int64_t n = data.data.size();
  NE_CHECK(n >= 2, "disentanglement: needs at least 2 training images, got ", n);
  NE_CHECK(options.pairs() >= 1, "disentanglement: pairs must be >= 1, got ", options.pairs());
  NE_CHECK(data.masks.defined(), "disentanglement: the data has no masks (the exact silhouettes)");
  const at::Tensor codes = model.codes()->codes.detach();
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(options.seed()));
  const at::Tensor first = torch::randint(n, {options.pairs()}, gen, torch::kLong);
  const at::Tensor offset = torch::randint(1, n, {options.pairs()}, gen, torch::kLong);  // B != A
  DisentanglementReport report;
  for (int64_t p = 0; p < options.pairs(); ++p) {
    const int64_t ia = first[p].item<int64_t>(), ib = (ia + offset[p].item<int64_t>()) % n;
    const at::Tensor a = codes[data.latent_index[ia].item<int64_t>()], b = codes[data.latent_index[ib].item<int64_t>()];
    const Camera& camera = data.data.cameras[ia];
    const RenderedView before = model.RenderCamera(camera, a);
    const RenderedView app_swap = model.RenderCamera(camera, MixCodes(model, a, b, 0, 1));
    const RenderedView shape_swap = model.RenderCamera(camera, MixCodes(model, a, b, 1, 0));
    const at::Tensor truth_mask = data.masks[ia];
    nlohmann::json pair = {{"a", ia}, {"b", ib}};
    const double iou = MaskIou(app_swap.opacity, before.opacity), gt_iou = MaskIou(app_swap.opacity, truth_mask);
    const double before_iou = MaskIou(before.opacity, truth_mask);
    pair["app_swap_iou"] = iou;
    pair["app_swap_gt_iou"] = gt_iou;
    report.app_swap_iou += iou;
    report.app_swap_gt_iou += gt_iou;
    report.before_gt_iou += before_iou;
    const ForegroundHue truth = MeanForegroundHue(data.data.images[ia], truth_mask);
    if (truth.saturation >= options.min_saturation()) {
      const ForegroundHue h0 = MeanForegroundHue(before.rgb, before.opacity);
      const ForegroundHue hs = MeanForegroundHue(shape_swap.rgb, shape_swap.opacity);
      const ForegroundHue ha = MeanForegroundHue(app_swap.rgb, app_swap.opacity);
      if (h0.hue_deg >= 0 && hs.hue_deg >= 0 && ha.hue_deg >= 0) {
        const double shift = HueDistanceDeg(hs.hue_deg, h0.hue_deg);
        const double gt_shift = HueDistanceDeg(hs.hue_deg, truth.hue_deg);
        pair["shape_swap_hue_shift_deg"] = shift;
        pair["shape_swap_gt_hue_shift_deg"] = gt_shift;
        report.shape_swap_hue_shift_deg += shift;
        report.shape_swap_gt_hue_shift_deg += gt_shift;
        report.app_swap_hue_change_deg += HueDistanceDeg(ha.hue_deg, h0.hue_deg);
        ++report.hue_pairs;
      }
    }
    report.per_pair.push_back(pair);
    ++report.pairs;
  }
  report.app_swap_iou /= report.pairs;
  report.app_swap_gt_iou /= report.pairs;
  report.before_gt_iou /= report.pairs;
  if (report.hue_pairs > 0) {
    report.shape_swap_hue_shift_deg /= report.hue_pairs;
    report.shape_swap_gt_hue_shift_deg /= report.hue_pairs;
    report.app_swap_hue_change_deg /= report.hue_pairs;
  }
  return report;
}

}  // namespace nerfedit
