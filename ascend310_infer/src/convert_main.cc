// faceid_convert: converts an ONNX model into a MindSpore Lite MINDIR for the CPU/GPU harness, through
// MindSpore Lite's converter library (the PyPI wheel ships no converter CLI). Lite 2.0 cannot read
// MindSpore 2.x MINDIR files ("maximum mind ir version: 1"), so the CPU route goes through ONNX.
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>

#include "lite_converter.h"

namespace {

std::vector<char> Chars(const std::string &s) { return std::vector<char>(s.begin(), s.end()); }

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.onnx OUTPUT_PREFIX  (writes OUTPUT_PREFIX.mindir)" << std::endl;
    return 2;
  }
  const std::string model = argv[1];
  const std::string prefix = argv[2];
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec)) {
    std::cerr << "error: " << model << ": model file not found" << std::endl;
    return 1;
  }
  if (std::filesystem::path(model).extension() != ".onnx") {
    std::cerr << "error: " << model << ": expected a .onnx file (export the model with file_format ONNX)" << std::endl;
    return 1;
  }
  mindspore::Status status;
  try {
    mindspore::Converter converter(mindspore::converter::kFmkTypeOnnx, Chars(model), Chars(prefix), Chars(""));
    converter.SetSaveType(mindspore::kMindIR);
    status = converter.Convert();
  } catch (const std::exception &e) {
    std::cerr << "error: " << model << ": conversion failed (" << e.what() << ")" << std::endl;
    return 1;
  }
  if (!status.IsOk()) {
    std::cerr << "error: " << model << ": conversion failed (" << status.ToString() << ")" << std::endl;
    return 1;
  }
  std::cout << "converted " << model << " -> " << prefix << ".mindir" << std::endl;
  return 0;
}
