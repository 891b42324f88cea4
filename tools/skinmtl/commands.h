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
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_predict(int argc, char** argv);
int cmd_cv(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_reproduce(int argc, char** argv);

}  // namespace skinmtl
