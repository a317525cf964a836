// Translation unit that owns the precompiled header (see cmake/nerfedit.cmake).
#include "util/torch_pch.h"
