// Device selection: the only place that knows the three device-info classes.
#include "device_context.h"

#include <stdexcept>

namespace faceid {

std::shared_ptr<mindspore::Context> MakeContext(const std::string &device_target, uint32_t device_id) {
  auto context = std::make_shared<mindspore::Context>();
  auto &infos = context->MutableDeviceInfo();
  if (device_target == "Ascend") {
    auto info = std::make_shared<mindspore::AscendDeviceInfo>();
    info->SetDeviceID(device_id);
    infos.push_back(info);
  } else if (device_target == "GPU") {
    auto info = std::make_shared<mindspore::GPUDeviceInfo>();
    info->SetDeviceID(device_id);
    infos.push_back(info);
  } else if (device_target == "CPU") {
    infos.push_back(std::make_shared<mindspore::CPUDeviceInfo>());
  } else {
    throw std::runtime_error("unknown device target '" + device_target + "' (Ascend, GPU or CPU)");
  }
  return context;
}

}  // namespace faceid
