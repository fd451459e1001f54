// Plain argv parsing for the harness: every flag is --key value or --key=value.
#include "options.h"

#include <map>
#include <stdexcept>

namespace faceid {

namespace {

uint64_t ParseUnsigned(const std::string &key, const std::string &text) {
  size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception &) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-') {
    throw std::runtime_error("--" + key + ": expected a non-negative integer, got '" + text + "'");
  }
  return value;
}

}  // namespace

std::string Usage(const char *prog) {
  return std::string("usage: ") + prog +
         " --model_path FILE (--input_dir DIR | --input_list FILE) --output_dir DIR"
         " [--device_target Ascend|GPU|CPU] [--device_id N] [--batch_size N] [--latency_file FILE]";
}

Options ParseOptions(int argc, char **argv) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i < argc; ++i) {
    std::string tok = argv[i];
    if (tok.rfind("--", 0) != 0 || tok.size() < 3) {
      throw std::runtime_error("unexpected argument '" + tok + "' (flags are --key value)");
    }
    std::string key = tok.substr(2);
    std::string value;
    size_t eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::runtime_error("--" + key + " needs a value");
    }
    kv[key] = value;
  }
  Options o;
  for (const auto &item : kv) {
    const std::string &k = item.first;
    const std::string &v = item.second;
    if (k == "model_path") o.model_path = v;
    else if (k == "input_dir") o.input_dir = v;
    else if (k == "input_list") o.input_list = v;
    else if (k == "output_dir") o.output_dir = v;
    else if (k == "device_target") o.device_target = v;
    else if (k == "device_id") o.device_id = static_cast<uint32_t>(ParseUnsigned(k, v));
    else if (k == "batch_size") o.batch_size = static_cast<int64_t>(ParseUnsigned(k, v));
    else if (k == "latency_file") o.latency_file = v;
    else throw std::runtime_error("unknown flag --" + k);
  }
  if (o.model_path.empty()) throw std::runtime_error("--model_path is required");
  if (o.input_dir.empty() == o.input_list.empty()) {
    throw std::runtime_error("give exactly one of --input_dir and --input_list");
  }
  if (o.output_dir.empty()) throw std::runtime_error("--output_dir is required");
  if (o.device_target != "Ascend" && o.device_target != "GPU" && o.device_target != "CPU") {
    throw std::runtime_error("--device_target must be Ascend, GPU or CPU, got '" + o.device_target + "'");
  }
  if (o.batch_size < 1) throw std::runtime_error("--batch_size must be at least 1");
  if (o.latency_file.empty()) o.latency_file = o.output_dir + "/latency.txt";
  return o;
}

}  // namespace faceid
