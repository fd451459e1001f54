// faceid_infer: runs a MindSpore model on preprocessed raw float32 inputs, one output file per input.
//
// Inputs are read in sorted file-name order (or list order), grouped into batches of the model's
// batch dimension (the last batch is zero-padded; padded rows are not written). A model with one output
// writes it as <output_dir>/<stem>.bin; a model with K > 1 outputs (e.g. PFE's mu and sigma^2) writes
// <output_dir>/<stem>_<k>.bin for k = 0..K-1, in the model's output order, and <output_dir>/outputs.txt
// lists "k name" per output so the order can be matched to names. The mean Predict time per batch goes
// to the latency file. Any error prints one "error: ..." line and exits non-zero.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <vector>

#include "device_context.h"
#include "file_io.h"
#include "include/api/model.h"
#include "options.h"

namespace {

std::string ShapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Builds the model and fixes a dynamic batch dimension to `batch_size`; returns the input shape.
std::vector<int64_t> BuildModel(mindspore::Model *model, const faceid::Options &opt) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(opt.model_path, ec)) {
    throw std::runtime_error(opt.model_path + ": model file not found");
  }
  auto status = model->Build(opt.model_path, mindspore::kMindIR, faceid::MakeContext(opt.device_target, opt.device_id));
  if (!status.IsOk()) {
    std::string hint = opt.device_target == "Ascend" ? "" : "; on CPU/GPU give the Lite model made by faceid_convert";
    throw std::runtime_error(opt.model_path + ": cannot build the model for " + opt.device_target + " (" +
                             status.ToString() + hint + ")");
  }
  auto inputs = model->GetInputs();
  if (inputs.size() != 1) {
    throw std::runtime_error(opt.model_path + ": expected one model input, found " + std::to_string(inputs.size()));
  }
  if (inputs[0].DataType() != mindspore::DataType::kNumberTypeFloat32) {
    throw std::runtime_error(opt.model_path + ": model input is not float32");
  }
  std::vector<int64_t> shape = inputs[0].Shape();
  if (shape.size() < 2) throw std::runtime_error(opt.model_path + ": model input has no batch dimension");
  for (size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] <= 0) throw std::runtime_error(opt.model_path + ": model input shape " + ShapeText(shape) +
                                                " is dynamic beyond the batch dimension");
  }
  if (shape[0] <= 0) {
    shape[0] = opt.batch_size;
    status = model->Resize(inputs, {shape});
    if (!status.IsOk()) {
      throw std::runtime_error(opt.model_path + ": cannot resize the batch to " + std::to_string(opt.batch_size) +
                               " (" + status.ToString() + ")");
    }
  }
  return shape;
}

// "k name" per model output, so a reader can match <stem>_<k>.bin to the exported output names.
void WriteOutputNames(const std::string &dir, const std::vector<mindspore::MSTensor> &outputs) {
  std::ofstream names(dir + "/outputs.txt", std::ios::trunc);
  if (!names) throw std::runtime_error(dir + "/outputs.txt: cannot write");
  for (size_t o = 0; o < outputs.size(); ++o) names << o << " " << outputs[o].Name() << "\n";
}

void Run(const faceid::Options &opt) {
  mindspore::Model model;
  std::vector<int64_t> shape = BuildModel(&model, opt);
  const size_t batch = static_cast<size_t>(shape[0]);
  size_t per_image = sizeof(float);
  for (size_t i = 1; i < shape.size(); ++i) per_image *= static_cast<size_t>(shape[i]);

  std::vector<std::string> files =
      opt.input_dir.empty() ? faceid::ReadListFile(opt.input_list) : faceid::ListBinFiles(opt.input_dir);
  for (const auto &f : files) faceid::CheckSize(f, per_image);  // fail before any output is written
  faceid::MakeDirs(opt.output_dir);
  std::cout << "model " << opt.model_path << " on " << opt.device_target << ", input " << ShapeText(shape) << ", "
            << files.size() << " inputs, " << model.GetOutputs().size() << " output(s)" << std::endl;

  std::vector<double> times_ms;
  for (size_t start = 0; start < files.size(); start += batch) {
    size_t count = std::min(batch, files.size() - start);
    auto inputs = model.GetInputs();
    auto *dst = static_cast<char *>(inputs[0].MutableData());
    if (dst == nullptr || inputs[0].DataSize() != per_image * batch) {
      throw std::runtime_error(opt.model_path + ": model input buffer has an unexpected size");
    }
    for (size_t k = 0; k < count; ++k) faceid::ReadExact(files[start + k], dst + k * per_image, per_image);
    std::memset(dst + count * per_image, 0, (batch - count) * per_image);

    std::vector<mindspore::MSTensor> outputs;
    auto t0 = std::chrono::steady_clock::now();
    auto status = model.Predict(inputs, &outputs);
    auto t1 = std::chrono::steady_clock::now();
    if (!status.IsOk() || outputs.empty()) {
      throw std::runtime_error(files[start] + ": Predict failed (" + status.ToString() + ")");
    }
    times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());

    if (start == 0 && outputs.size() > 1) WriteOutputNames(opt.output_dir, outputs);
    for (size_t o = 0; o < outputs.size(); ++o) {
      const auto &out = outputs[o];
      if (out.DataType() != mindspore::DataType::kNumberTypeFloat32 || out.DataSize() % batch != 0) {
        throw std::runtime_error(opt.model_path + ": output " + std::to_string(o) + " (" + out.Name() +
                                 ") is not a float32 batch of " + std::to_string(batch));
      }
      size_t per_out = out.DataSize() / batch;
      const auto *src = static_cast<const char *>(out.Data().get());
      std::string suffix = outputs.size() > 1 ? "_" + std::to_string(o) + ".bin" : ".bin";
      for (size_t k = 0; k < count; ++k) {
        faceid::WriteBytes(opt.output_dir + "/" + faceid::Stem(files[start + k]) + suffix, src + k * per_out,
                           per_out);
      }
    }
  }

  double total = 0;
  for (double t : times_ms) total += t;
  double mean = total / times_ms.size();
  std::ofstream lat(opt.latency_file, std::ios::trunc);
  if (!lat) throw std::runtime_error(opt.latency_file + ": cannot write latency file");
  lat << "device_target=" << opt.device_target << " batch_size=" << batch << " batches=" << times_ms.size()
      << " inputs=" << files.size() << " mean_batch_ms=" << mean << " first_batch_ms=" << times_ms.front() << "\n";
  std::cout << "wrote " << files.size() << " outputs to " << opt.output_dir << "; mean " << mean << " ms per batch of "
            << batch << " (" << opt.latency_file << ")" << std::endl;
}

}  // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << faceid::Usage(argv[0]) << std::endl;
      return 0;
    }
  }
  faceid::Options opt;
  try {
    opt = faceid::ParseOptions(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "error: " << e.what() << "\n" << faceid::Usage(argv[0]) << std::endl;
    return 2;
  }
  try {
    Run(opt);
  } catch (const std::exception &e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
