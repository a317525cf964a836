// Moved: SetBlasThreads and ScopedBlasThreads live in util/thread_policy.h with the rest of the threading policy.
#pragma once
#include "util/thread_policy.h"
