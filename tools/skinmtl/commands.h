// The subcommands of bin/skinmtl. Each takes its own argv (argv[0] is the
// command's name) and returns the process exit status; errors are thrown as
// skinmtl::Error and reported by main.
#pragma once

namespace skinmtl {

int cmd_info(int argc, char** argv);
int cmd_check_data(int argc, char** argv);
int cmd_demo(int argc, char** argv);
int cmd_metrics(int argc, char** argv);
int cmd_classify(int argc, char** argv);
int cmd_cv(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_reproduce(int argc, char** argv);

// The models' commands: `skinmtl train mtl ...` runs train_mtl with argv[0]
// "mtl" (main.cpp's tables); `cv mtl` trains and evaluates through them.
int train_mtl(int argc, char** argv);
int train_segcls(int argc, char** argv);
int train_detseg(int argc, char** argv);
int eval_mtl(int argc, char** argv);
int eval_segcls(int argc, char** argv);
int eval_detseg(int argc, char** argv);
int predict_detseg(int argc, char** argv);

}  // namespace skinmtl
