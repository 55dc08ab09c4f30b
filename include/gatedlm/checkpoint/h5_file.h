// A small RAII layer over the HDF5 C API: typed datasets by path (intermediate groups created on
// write), attributes, recursive listing. Files are created with HDF5 1.8+ object formats so that
// their metadata carries HDF5's own checksums. Errors name the file and the dataset, and add the
// innermost HDF5 / OS reason (e.g. "File too large") where there is one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gatedlm/core/tensor.h"
#include "gatedlm/core/tensor_block.h"

namespace gatedlm {

// Element types a dataset can hold. `text` is one fixed-length UTF-8 string (a scalar dataset).
enum class H5Type { f32, f64, i32, i64, u64, text, other };
const char* h5_type_name(H5Type type);
size_t h5_type_size(H5Type type);  // bytes per element; 1 for text

// One mapping of a virtual dataset: `dataset` in `file` (a name relative to the virtual
// dataset's file) fills `block` of it: the whole dataset (shaped like `block`) when
// `source_offset` < 0, else elements [source_offset, source_offset + numel(block)) of a 1-D
// dataset, in row-major order (a flat piece, e.g. a ZeRO-1 shard's). HDF5 keeps no length of
// such a source: the mappings of one dataset together say how long it is.
struct H5VirtualSource {
  std::string file;
  std::string dataset;
  TensorBlock block;
  int64_t source_offset = -1;
};

struct H5DatasetInfo {
  std::string name;  // full path without the leading '/', e.g. "model/lm_head.weight"
  H5Type type = H5Type::other;
  Shape shape;  // empty for scalars
};

class H5File {
 public:
  enum class Mode { read, truncate };
  H5File(const std::string& path, Mode mode);
  ~H5File();
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  // Typed writes; `shape` {} writes a scalar.
  void write_floats(const std::string& name, const Shape& shape, const float* data);
  void write_ints(const std::string& name, const Shape& shape, const int32_t* data);
  void write_doubles(const std::string& name, const Shape& shape, const double* data);
  void write_int64s(const std::string& name, const Shape& shape, const int64_t* data);
  void write_uint64s(const std::string& name, const Shape& shape, const uint64_t* data);
  void write_text(const std::string& name, const std::string& text);
  // A float32 virtual dataset of `shape` assembled from `sources` (HDF5 virtual datasets).
  void write_virtual_floats(const std::string& name, const Shape& shape,
                            const std::vector<H5VirtualSource>& sources);

  // Reads a whole dataset; its shape is returned through `shape` when non-null.
  std::vector<float> read_floats(const std::string& name, Shape* shape = nullptr) const;
  std::vector<int32_t> read_ints(const std::string& name, Shape* shape = nullptr) const;
  std::vector<double> read_doubles(const std::string& name, Shape* shape = nullptr) const;
  std::vector<int64_t> read_int64s(const std::string& name, Shape* shape = nullptr) const;
  std::vector<uint64_t> read_uint64s(const std::string& name, Shape* shape = nullptr) const;
  std::string read_text(const std::string& name) const;
  // Just `block` of a float32 dataset (a hyperslab), packed row-major.
  std::vector<float> read_floats_block(const std::string& name, const TensorBlock& block) const;
  // The mappings of a virtual dataset; empty for a plain one.
  std::vector<H5VirtualSource> virtual_sources(const std::string& name) const;
  // The stored bytes of a dataset in its own element type (little-endian on the machines we
  // run on), as checksums see them.
  std::vector<std::byte> read_bytes(const std::string& name, H5DatasetInfo* info = nullptr) const;

  Shape shape_of(const std::string& name) const;
  H5DatasetInfo info(const std::string& name) const;
  bool has(const std::string& name) const;
  // Dataset names under a group (non-recursive), sorted; none for a missing group. Files this
  // class writes record each group's link count (attribute `num_links`, set on close), and the
  // listing must match it: damage that hides a link is an error, not a shorter list.
  std::vector<std::string> list(const std::string& group) const;
  // Makes a group without `num_links` an error (files whose format promises the counts).
  void require_link_counts() { require_link_counts_ = true; }
  // Every dataset in the file, recursively, in name order.
  std::vector<H5DatasetInfo> datasets() const;
  // Byte offset of a contiguous dataset's data in the file (for corruption tests); -1 if none.
  int64_t data_offset(const std::string& name) const;

  // Attributes on an object ("/" = the file's root group).
  void set_attribute(const std::string& object, const std::string& key, const std::string& value);
  void set_attribute(const std::string& object, const std::string& key, int64_t value);
  void set_attribute(const std::string& object, const std::string& key, double value);
  std::string attribute(const std::string& object, const std::string& key) const;
  bool has_attribute(const std::string& object, const std::string& key) const;
  // Every attribute on an object, rendered as text, in name order.
  std::vector<std::pair<std::string, std::string>> attributes(const std::string& object) const;

  const std::string& path() const { return path_; }
  void flush();
  // Records every group's link count (when writing), closes the file and reports a failed final
  // write (HDF5 writes cached metadata on close).
  void close();

 private:
  void record_link_counts(const std::string& group);

  std::string path_;
  int64_t file_ = -1;
  bool writing_ = false;
  bool require_link_counts_ = false;
};

// The innermost message on HDF5's current error stack (and errno's text when HDF5 reports a
// system error), or "" when the stack is empty.
std::string hdf5_error_detail();

}  // namespace gatedlm
