// Hugging Face safetensors reading (`gatedlm import`): the input is the file.
#include "fuzz_support.h"
#include "gatedlm/checkpoint/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatedlm;
  static fuzz::MemoryFile file;
  const std::string& path = file.write({reinterpret_cast<const char*>(data), size});
  fuzz::accepts([&] {
    const SafetensorsFile st = read_safetensors(path);
    for (const NamedTensor& t : st.tensors)
      if (static_cast<int64_t>(t.data.size()) != shape_numel(t.shape))
        fuzz::fail("read_safetensors", "tensor data does not fill its shape");
  });
  return 0;
}
