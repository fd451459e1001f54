// MindSpore inference context for one device target.
#ifndef FACEID_INFER_DEVICE_CONTEXT_H_
#define FACEID_INFER_DEVICE_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "include/api/context.h"

namespace faceid {

// A Context holding AscendDeviceInfo, GPUDeviceInfo or CPUDeviceInfo for "Ascend" | "GPU" | "CPU".
std::shared_ptr<mindspore::Context> MakeContext(const std::string &device_target, uint32_t device_id);

}  // namespace faceid

#endif  // FACEID_INFER_DEVICE_CONTEXT_H_
