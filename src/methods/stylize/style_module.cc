#include "methods/stylize/style_module.h"

#include "util/error.h"

namespace nerfedit {

StyleModuleImpl::StyleModuleImpl(StyleModuleOptions options) : options_(std::move(options)) {
  NE_CHECK(options_.aabb().size() == 6, "style module: aabb needs 6 numbers, got ", options_.aabb().size());
  aabb_ = register_buffer("aabb", torch::tensor(options_.aabb()).reshape({2, 3}));
  encoding = register_module(
      "encoding", PositionalEncoding(PositionalEncodingOptions().num_frequencies(options_.position_frequencies())));
  layers = register_module("layers", torch::nn::ModuleList());
  const int64_t in = encoding->output_dim(3), z = options_.latent_dim(), w = options_.hidden_dim();
  for (int64_t k = 0; k < options_.num_layers(); ++k) {
    int64_t dim = (k == 0 ? in : w) + z;
    if (k == options_.skip_layer()) dim += in;
    layers->push_back(torch::nn::Linear(dim, k + 1 == options_.num_layers() ? 3 : w));
  }
}

at::Tensor StyleModuleImpl::forward(const at::Tensor& positions, const at::Tensor& latents) {
  const at::Tensor lo = aabb_[0], hi = aabb_[1];
  const at::Tensor x = encoding->forward((positions - lo) / (hi - lo) * 2 - 1);
  const at::Tensor z = latents.size(0) == x.size(0) ? latents : latents.expand({x.size(0), latents.size(1)});
  at::Tensor h = x;
  for (int64_t k = 0; k < options_.num_layers(); ++k) {
    std::vector<at::Tensor> parts = {h, z};
    if (k == options_.skip_layer()) parts.push_back(x);
    h = layers[k]->as<torch::nn::Linear>()->forward(torch::cat(parts, 1));
    h = k + 1 == options_.num_layers() ? torch::sigmoid(h) : torch::relu(h);
  }
  return h;
}

at::Tensor SkyPoints(const at::Tensor& directions, const at::Tensor& aabb) {
  const at::Tensor box = aabb.to(directions.device(), at::kFloat);
  const at::Tensor centre = (box[0] + box[1]) / 2, radius = (box[1] - box[0]).norm() / 2;
  return centre + 2 * radius * directions;
}

at::Tensor GaussianKl(const at::Tensor& mu_q, const at::Tensor& logvar_q, const at::Tensor& mu_p,
                      const at::Tensor& logvar_p) {
  return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1).sum(-1);
}

namespace {
torch::nn::Sequential Mlp(int64_t in, int64_t hidden, int64_t hidden_layers) {
  torch::nn::Sequential s;
  for (int64_t k = 0; k < hidden_layers; ++k) {
    s->push_back(torch::nn::Linear(k == 0 ? in : hidden, hidden));
    s->push_back(torch::nn::ReLU());
  }
  return s;
}
}  // namespace

StyleVaeImpl::StyleVaeImpl(int64_t data_dim, int64_t latent_dim, int64_t hidden_dim, int64_t num_layers) {
  encoder = register_module("encoder", Mlp(data_dim, hidden_dim, num_layers - 1));
  mu_head = register_module("mu_head", torch::nn::Linear(hidden_dim, latent_dim));
  logvar_head = register_module("logvar_head", torch::nn::Linear(hidden_dim, latent_dim));
  decoder = register_module("decoder", Mlp(latent_dim, hidden_dim, num_layers - 1));
  decoder->push_back(torch::nn::Linear(hidden_dim, data_dim));
}

std::pair<at::Tensor, at::Tensor> StyleVaeImpl::Encode(const at::Tensor& x) {
  const at::Tensor h = encoder->forward(x);
  return {mu_head->forward(h), logvar_head->forward(h)};
}

at::Tensor StyleVaeImpl::Decode(const at::Tensor& z) { return decoder->forward(z); }

at::Tensor StyleVaeImpl::Loss(const at::Tensor& x, double kl_weight) {
  const auto [mu, logvar] = Encode(x);
  const at::Tensor z = mu + (0.5 * logvar).exp() * torch::randn_like(mu);
  const at::Tensor recon = (x - Decode(z)).pow(2).mean(0).sum();
  const at::Tensor kl = GaussianKl(mu, logvar, torch::zeros_like(mu), torch::zeros_like(logvar)).mean();
  return recon + kl_weight * kl;
}

LatentTableImpl::LatentTableImpl(int64_t num_styles, int64_t num_views, int64_t latent_dim) {
  mean = register_parameter("mean", torch::zeros({num_styles, num_views, latent_dim}));
  logvar = register_parameter("logvar", torch::zeros({num_styles, num_views, latent_dim}));
}

void LatentTableImpl::InitFromPrior(const at::Tensor& prior_mu, const at::Tensor& prior_logvar) {
  NE_CHECK(prior_mu.sizes() == prior_logvar.sizes() && prior_mu.dim() == 2 && prior_mu.size(0) == mean.size(0) &&
               prior_mu.size(1) == mean.size(2),
           "latent table: priors ", prior_mu.sizes(), " / ", prior_logvar.sizes(), " do not fit latents ",
           mean.sizes());
  torch::NoGradGuard no_grad;
  const at::Tensor mu = prior_mu.unsqueeze(1).expand_as(mean), lv = prior_logvar.unsqueeze(1).expand_as(mean);
  mean.copy_(mu + (0.5 * lv).exp() * torch::randn_like(mean));
  logvar.copy_(lv);
}

at::Tensor LatentTableImpl::Latents(const at::Tensor& styles, const at::Tensor& views, bool sample) {
  const at::Tensor m = mean.index({styles, views}), lv = logvar.index({styles, views});
  return sample ? m + (0.5 * lv).exp() * torch::randn_like(m) : m;
}

at::Tensor LatentTableImpl::KlToPrior(const at::Tensor& styles, const at::Tensor& views, const at::Tensor& prior_mu,
                                      const at::Tensor& prior_logvar) {
  return GaussianKl(mean.index({styles, views}), logvar.index({styles, views}), prior_mu.index_select(0, styles),
                    prior_logvar.index_select(0, styles));
}

at::Tensor LatentTableImpl::RenderLatent(int64_t style) const {
  NE_CHECK(style >= 0 && style < mean.size(0), "style ", style, " is out of range (the run has ", mean.size(0),
           " styles)");
  return mean[style].mean(0).detach();
}

StyledField::StyledField(FieldPtr base, StyleModule style, at::Tensor latent)
    : base_(std::move(base)), style_(std::move(style)), latent_(std::move(latent)) {
  NE_CHECK(base_ != nullptr, "styled field: no base field");
}

FieldOutputs StyledField::Query(const at::Tensor& positions, const at::Tensor& directions) {
  FieldOutputs out;
  out.density = base_->QueryDensity(positions);
  out.rgb = style_->forward(positions, latent_.to(positions.device()).reshape({1, -1}));
  return out;
}

at::Tensor StyledField::SkyColour(const at::Tensor& directions) {
  return style_->forward(SkyPoints(directions, base_->Aabb()), latent_.to(directions.device()).reshape({1, -1}));
}

}  // namespace nerfedit
