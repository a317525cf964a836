// Edit lists (RUN/edits.json, read whenever an edited run is rendered, served or edited further): the fuzzer's bytes
// are the file. A list that loads is applied to a small analytic feature field (compose edits get a second one) and
// the edited field is queried, as rendering would, so bad matrices, colours or selections that pass the reader but
// break a wrapper show up here. Properties checked beside "read or refused": a loaded list survives ToJson ->
// FromJson unchanged, and Push accepts each of its edits.
#include <torch/torch.h>

#include <cstdlib>

#include "edit/edit_list.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace nerfedit;

constexpr int64_t kFeatureDim = 8;  // the seed corpus's selections have 8-dimensional queries

// A sphere of radius 0.5 at the origin: density 10 inside, colour and features varying with position, so
// selections, recolours and moves all have something to act on.
class SphereField : public Field {
 public:
  FieldOutputs Query(const at::Tensor& positions, const at::Tensor& directions) override {
    FieldOutputs out;
    out.density = QueryDensity(positions);
    out.rgb = torch::sigmoid(positions * 3);
    out.features = torch::cat({positions, torch::cos(positions), positions.norm(2, 1, true),
                               torch::ones({positions.size(0), kFeatureDim - 7})},
                              1);
    return out;
  }
  at::Tensor QueryDensity(const at::Tensor& positions) override {
    return (positions.norm(2, 1) < 0.5).to(torch::kFloat) * 10;
  }
  std::string Kind() const override { return "fuzz_sphere"; }
  nlohmann::json Config() const override { return nlohmann::json::object(); }
  at::Tensor Aabb() const override { return torch::tensor({-1.f, -1.f, -1.f, 1.f, 1.f, 1.f}).view({2, 3}); }
};

void Exercise(const EditList& list) {
  const EditList back = EditList::FromJson(list.ToJson(), "round trip");
  if (back.ToJson() != list.ToJson()) std::abort();  // the written list must read back as itself
  EditList pushed;
  for (const auto& edit : list.edits) pushed.Push(edit);
  FieldPtr field = ApplyEdits(std::make_shared<SphereField>(), list,
                              [](const std::string&) { return std::make_shared<SphereField>(); });
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::linspace(-1, 1, 27).view({9, 3});
  const at::Tensor d = torch::nn::functional::normalize(torch::ones({9, 3}));
  FieldOutputs out = field->Query(x, d);
  field->QueryColour(x, d);
  field->QueryDensity(x);
  field->Aabb();
  field->Config();
  if (out.density.size(0) != 9 || out.rgb.size(0) != 9) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  at::set_num_threads(1);
  const std::string path = fuzz::WriteInput("edits.json", data, size);
  fuzz::ExpectReadOrRefused([&] { Exercise(EditList::Load(path)); });
  return 0;
}
