// Constants shared by geometry code (one definition: unity builds compile several files as one).
#pragma once

namespace nerfedit {

inline constexpr double kPi = 3.14159265358979323846;

}  // namespace nerfedit
