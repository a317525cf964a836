// Image quality metrics on [H,W,3] f32 images in [0,1].
#pragma once
#include <ATen/core/Tensor.h>

namespace nerfedit {

// Peak signal-to-noise ratio in dB for signals in [0,1]: -10 log10(MSE).
double Psnr(const at::Tensor& image, const at::Tensor& reference);

// Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 1,
// computed per channel on the valid (un-padded) region and averaged — the convention of skimage/NeRF evaluations.
double Ssim(const at::Tensor& image, const at::Tensor& reference);

// Intersection over union of two [H,W] masks: bool masks as they are, others thresholded at 0.5 (opacities,
// probabilities); 1 when both are empty.
double MaskIou(const at::Tensor& a, const at::Tensor& b);

// Mean absolute error over the pixels where mask [H,W] is true.
double MaskedMae(const at::Tensor& value, const at::Tensor& reference, const at::Tensor& mask);

// Mean colour of the pixels where mask > 0.5 ([H,W,3] rgb, [H,W] mask) as HSV: hue in degrees [0, 360), saturation
// (max - min) / max, value max; hue -1 when no pixel is in the mask. The judge of colour edits: pixel statistics,
// independent of any CLIP.
struct ForegroundHue {
  double hue_deg = -1;
  double saturation = 0;
  double value = 0;
};
ForegroundHue MeanForegroundHue(const at::Tensor& rgb, const at::Tensor& mask);
double HueDistanceDeg(double a, double b);  // circular, in [0, 180]

}  // namespace nerfedit
