// Precompiled header shared by every nerfedit target: the expensive includes live here once.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
