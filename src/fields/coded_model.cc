#include "fields/coded_model.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "fields/module_state.h"

namespace nerfedit {

RenderedView RenderCameraWithCode(const Camera& camera, const at::Tensor& code, c10::Device device, int64_t chunk,
                                  const CodedRayRenderer& render) {
  torch::NoGradGuard no_grad;
  const RayBatch rays = GenerateRays(camera);
  const at::Tensor z = code.to(device, at::kFloat).reshape({1, -1});
  std::vector<at::Tensor> rgb, depth, opacity;
  for (int64_t b = 0; b < rays.size(); b += chunk) {
    const RayBatch part = rays.Slice(b, std::min(b + chunk, rays.size()));
    const CodedRays out = render(part, z.expand({part.size(), z.size(1)}));
    rgb.push_back(out.rgb.cpu());
    depth.push_back(out.depth.cpu());
    opacity.push_back(out.opacity.cpu());
  }
  RenderedView view;
  view.rgb = torch::cat(rgb).view({camera.height, camera.width, 3}).clamp(0, 1);
  view.opacity = torch::cat(opacity).view({camera.height, camera.width});
  view.depth = torch::cat(depth).view({camera.height, camera.width});
  return view;
}

void SaveCodedModel(torch::serialize::OutputArchive& archive, const CodedModelParts& parts) {
  torch::serialize::OutputArchive field_archive, codes_archive;
  parts.field->save(field_archive);
  archive.write("field", field_archive);
  archive.write("field_kind", c10::IValue(parts.field_kind));
  if (parts.background != nullptr) {
    torch::serialize::OutputArchive background_archive;
    parts.background->save(background_archive);
    archive.write("background", background_archive);
  }
  parts.codes->save(codes_archive);
  archive.write("codes", codes_archive);
  archive.write("num_codes", torch::tensor(parts.codes->size()), /*is_buffer=*/true);
}

void LoadCodedModel(torch::serialize::InputArchive& archive, const CodedModelParts& parts, c10::Device device,
                    const std::string& method) {
  c10::IValue kind;
  NE_CHECK(archive.try_read("field_kind", kind) && kind.isString(), "the checkpoint holds no ", method, " field");
  NE_CHECK(kind.toStringRef() == parts.field_kind, "the checkpoint holds a \"", kind.toStringRef(),
           "\" field but the run config builds \"", parts.field_kind, "\"");
  torch::Tensor num_codes;
  archive.read("num_codes", num_codes, /*is_buffer=*/true);
  NE_CHECK(num_codes.item<int64_t>() == parts.codes->size(), "the checkpoint holds ", num_codes.item<int64_t>(),
           " codes but the run's data has ", parts.codes->size(), " (one per training image)");
  torch::serialize::InputArchive field_archive, codes_archive;
  archive.read("field", field_archive);
  LoadModuleState(*parts.field, field_archive, "the " + method + " field");
  if (parts.background != nullptr) {
    torch::serialize::InputArchive background_archive;
    NE_CHECK(archive.try_read("background", background_archive),
             "the checkpoint has no background model but the run's config asks for one");
    LoadModuleState(*parts.background, background_archive, "the " + method + " background model");
  }
  archive.read("codes", codes_archive);
  LoadModuleState(*parts.codes, codes_archive, "the " + method + " codes");
  parts.field->to(device);
  if (parts.background != nullptr) parts.background->to(device);
  parts.codes->to(device);
}

}  // namespace nerfedit
