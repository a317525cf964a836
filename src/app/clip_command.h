// `nerfedit clip`: train the small procedural CLIP, embed a text or an image, rank captions for an image.
#pragma once

namespace nerfedit {

// argv[0] is "clip"; the subcommand follows (train, embed, rank). Returns the process exit code.
int RunClip(int argc, char** argv);

}  // namespace nerfedit
