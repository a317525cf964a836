// Subcommands of the nerfedit binary. Each parses its own flags (argv[0] is the command name), checks them,
// builds what it needs and runs; errors are thrown as nerfedit::Error and printed by main.
#pragma once

namespace nerfedit {

int RunScene(int argc, char** argv);
int RunTrain(int argc, char** argv);
int RunRender(int argc, char** argv);
int RunEval(int argc, char** argv);
int RunReport(int argc, char** argv);
int RunDff(int argc, char** argv);     // app/train_command.cc
int RunSelect(int argc, char** argv);  // app/edit_commands.cc
int RunEdit(int argc, char** argv);
int RunClip(int argc, char** argv);   // app/clip_command.cc
int RunServe(int argc, char** argv);  // app/viewer/serve_command.cc
int RunCategory(int argc, char** argv);  // app/category_command.cc
int RunLolnerf(int argc, char** argv);   // app/lolnerf_command.cc
int RunStylize(int argc, char** argv);   // app/stylize_command.cc
int RunClipnerf(int argc, char** argv);  // app/clipnerf_command.cc

}  // namespace nerfedit
