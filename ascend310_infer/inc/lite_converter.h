// Declaration of the converter class exported by MindSpore Lite 2.0's libmindspore_converter.so.
//
// The PyPI mindspore-lite 2.0.0 wheel ships the library but not its header, so this file declares
// the few members faceid_convert calls, with the library's exact signatures (vector<char> strings,
// as in the dual-ABI headers) and its one data member, a shared_ptr to the private parameters.
#ifndef FACEID_INFER_LITE_CONVERTER_H_
#define FACEID_INFER_LITE_CONVERTER_H_

#include <memory>
#include <vector>

#include "include/api/status.h"
#include "include/api/types.h"
#include "include/registry/converter_context.h"

namespace mindspore {

class Converter {
 public:
  Converter(converter::FmkType fmk_type, const std::vector<char> &model_file, const std::vector<char> &output_file,
            const std::vector<char> &weight_file);
  void SetSaveType(ModelType save_type);
  Status Convert();

 private:
  std::shared_ptr<void> data_;  // same size and destruction as the library's shared_ptr<ConverterPara>
};

}  // namespace mindspore

#endif  // FACEID_INFER_LITE_CONVERTER_H_
