// `nerfedit serve RUN [--port 7007] [--host 127.0.0.1] [--device auto]`: the web viewer over a trained run.
#pragma once

namespace nerfedit {

// argv[0] is the subcommand's name ("serve"). Serves until SIGINT/SIGTERM; returns the process exit code.
int RunServe(int argc, char** argv);

}  // namespace nerfedit
