// Command-line options of the inference harness (plain argv parsing, no gflags).
#ifndef FACEID_INFER_OPTIONS_H_
#define FACEID_INFER_OPTIONS_H_

#include <cstdint>
#include <string>

namespace faceid {

struct Options {
  std::string model_path;
  std::string input_dir;       // directory of <stem>.bin files, read in sorted order
  std::string input_list;      // or a text file listing .bin paths, one a line
  std::string output_dir;      // receives <stem>.bin per input
  std::string device_target = "CPU";  // Ascend | GPU | CPU
  uint32_t device_id = 0;
  int64_t batch_size = 1;      // used only when the model's batch dimension is dynamic
  std::string latency_file;    // default: <output_dir>/latency.txt
};

// Parses --key value / --key=value pairs; throws std::runtime_error with a one-line message.
Options ParseOptions(int argc, char **argv);

// The usage text printed for --help or a parse error.
std::string Usage(const char *prog);

}  // namespace faceid

#endif  // FACEID_INFER_OPTIONS_H_
