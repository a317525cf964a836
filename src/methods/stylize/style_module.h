// StylizedNeRF's 3D parts (Huang et al. 2022, Sec. 3.2-3.3): the style module that replaces a trained field's colour,
// the VAE over a style's encoder statistics that gives each style a latent prior, the per-(style, view) learnable
// latents with their conditional-prior (KL) loss, and StyledField, the frozen field with the style module as colour
// (a field wrapper, like an edit: every sampler, renderer and the viewer render it unchanged).
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "fields/encodings.h"
#include "fields/field.h"

namespace nerfedit {

struct StyleModuleOptions {
  TORCH_ARG(std::vector<float>, aabb) = std::vector<float>{-1, -1, -1, 1, 1, 1};  // positions normalised to [-1,1]
  TORCH_ARG(int64_t, position_frequencies) = 8;
  TORCH_ARG(int64_t, num_layers) = 4;  // linear layers, output included
  TORCH_ARG(int64_t, hidden_dim) = 64;
  TORCH_ARG(int64_t, skip_layer) = -1;  // this layer's input also gets the encoded position (-1 = none)
  TORCH_ARG(int64_t, latent_dim) = 32;
};

// The style module: c = sigmoid(W_n [h_{n-1}, z]), h_k = relu(W_k [h_{k-1}, z (, gamma(x) at the skip)]),
// h_0 = gamma(x). The input is the positional encoding of the position, not the frozen field's features: the
// style module then works on any field behind the Field interface (hash grid or MLP runs, no cast to a concrete
// field), and it is what the paper and the authors' code feed it (embedded coordinates).
class StyleModuleImpl : public torch::nn::Module {
 public:
  explicit StyleModuleImpl(StyleModuleOptions options = {});
  // positions [N,3] world, latents [N,L] or [1,L] -> rgb [N,3] in (0,1).
  at::Tensor forward(const at::Tensor& positions, const at::Tensor& latents);
  const StyleModuleOptions& options() const { return options_; }

  PositionalEncoding encoding{nullptr};
  torch::nn::ModuleList layers{nullptr};

 private:
  StyleModuleOptions options_;
  at::Tensor aabb_;  // [2,3] buffer
};
TORCH_MODULE(StyleModule);

// Where a ray with unit direction d [N,3] meets the sky: the sphere centre + 2 r d around the scene box aabb [2,3]
// (r its half-diagonal). The style module's colour there paints what the frozen density leaves empty (weight
// 1 - opacity): the scene's background becomes part of the style, the same from every view (a function of the
// direction only). Deviation: the paper's scenes (LLFF, Tanks and Temples) have no empty background; on the built-in
// scene 43% of a view is background, and with a fixed background colour a perfect mimic of the 2D network's output
// lowered the style loss only 3.76 -> 3.37 (the 2D network's own output: 1.44), so the renders could not take the
// style.
at::Tensor SkyPoints(const at::Tensor& directions, const at::Tensor& aabb);

// KL(N(mu_q, diag e^{logvar_q}) || N(mu_p, diag e^{logvar_p})) per row, summed over the last dimension:
// 0.5 * sum(logvar_p - logvar_q + (e^{logvar_q} + (mu_q - mu_p)^2) / e^{logvar_p} - 1). Broadcasts; differentiable.
at::Tensor GaussianKl(const at::Tensor& mu_q, const at::Tensor& logvar_q, const at::Tensor& mu_p,
                      const at::Tensor& logvar_p);

// The VAE over a style's relu4_1 statistics x = [mean, std] (2 x C4): encoder MLP -> (mu, logvar), decoder MLP
// z -> x; loss = sum over dims of the batch-mean squared reconstruction error + kl_weight * mean KL(q || N(0,I))
// (the authors' VAE.loss).
class StyleVaeImpl : public torch::nn::Module {
 public:
  StyleVaeImpl(int64_t data_dim, int64_t latent_dim, int64_t hidden_dim, int64_t num_layers);
  std::pair<at::Tensor, at::Tensor> Encode(const at::Tensor& x);  // [B,D] -> mu, logvar [B,L]
  at::Tensor Decode(const at::Tensor& z);                         // [B,L] -> [B,D]
  // One training loss on x [B,D] (reparameterised sample).
  at::Tensor Loss(const at::Tensor& x, double kl_weight);

  torch::nn::Sequential encoder{nullptr}, decoder{nullptr};
  torch::nn::Linear mu_head{nullptr}, logvar_head{nullptr};
};
TORCH_MODULE(StyleVae);

// Learnable latents, one Gaussian N(mean[s,v], diag exp(logvar[s,v])) per (style, view) (the paper's l_{i,j}).
class LatentTableImpl : public torch::nn::Module {
 public:
  LatentTableImpl(int64_t num_styles, int64_t num_views, int64_t latent_dim);
  // Initialises every view's latent of style s from the prior: mean = mu_s + sigma_s * eps (the authors'
  // set_latents), logvar = logvar_s.
  void InitFromPrior(const at::Tensor& prior_mu, const at::Tensor& prior_logvar);  // [S,L] each
  // Latents [B,L] for styles/views [B] i64: mean + exp(0.5 logvar) * eps when sample, else the mean.
  at::Tensor Latents(const at::Tensor& styles, const at::Tensor& views, bool sample);
  // The conditional-prior loss: KL of each (style, view) latent's Gaussian to its style's prior, [B].
  at::Tensor KlToPrior(const at::Tensor& styles, const at::Tensor& views, const at::Tensor& prior_mu,
                       const at::Tensor& prior_logvar);
  // The latent a style renders with: the mean of its views' means, [L].
  at::Tensor RenderLatent(int64_t style) const;
  int64_t num_styles() const { return mean.size(0); }

  at::Tensor mean;    // [S,V,L] f32 parameter
  at::Tensor logvar;  // [S,V,L] f32 parameter
};
TORCH_MODULE(LatentTable);

// A trained field with its colour replaced: density from the frozen field (exactly its QueryDensity), colour from
// the style module at the selected latent. The base field is held, not registered: its parameters are not this
// module's, so no optimizer built from parameters() can reach them.
class StyledField : public Field {
 public:
  StyledField(FieldPtr base, StyleModule style, at::Tensor latent);  // latent [L]
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override;
  at::Tensor QueryDensity(const at::Tensor& positions) override { return base_->QueryDensity(positions); }
  std::string Kind() const override { return "styled_" + base_->Kind(); }
  nlohmann::json Config() const override { return base_->Config(); }
  at::Tensor Aabb() const override { return base_->Aabb(); }
  // The style module's sky colour for unit ray directions [N,3] -> [N,3] (SkyPoints).
  at::Tensor SkyColour(const at::Tensor& directions);
  void set_latent(at::Tensor latent) { latent_ = std::move(latent); }
  const FieldPtr& base() const { return base_; }

 private:
  FieldPtr base_;
  StyleModule style_;
  at::Tensor latent_;  // [L]
};

}  // namespace nerfedit
