#include "gatedlm/checkpoint/h5_file.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

// HDF5 prints its own error stack by default; we report our own one-line errors instead.
// Its exit-time cleanup crashes (1.10) on a file whose close failed after a write error, and we
// close every file ourselves, so it is switched off (must precede any other HDF5 call).
struct ConfigureHdf5 {
  ConfigureHdf5() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
} configure_hdf5;

// Releases an HDF5 identifier of any kind at scope exit.
class Handle {
 public:
  explicit Handle(hid_t id = -1) : id_(id) {}
  ~Handle() {
    if (id_ >= 0) H5Idec_ref(id_);
  }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
};

std::string with_detail(const std::string& message, const std::string& detail) {
  return detail.empty() ? message : message + ": " + detail;
}

hid_t mem_type_of(H5Type type) {
  switch (type) {
    case H5Type::f32:
      return H5T_NATIVE_FLOAT;
    case H5Type::f64:
      return H5T_NATIVE_DOUBLE;
    case H5Type::i32:
      return H5T_NATIVE_INT32;
    case H5Type::i64:
      return H5T_NATIVE_INT64;
    case H5Type::u64:
      return H5T_NATIVE_UINT64;
    default:
      return -1;
  }
}

H5Type classify(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_STRING) return H5Type::text;
  if (cls == H5T_FLOAT) return size == 4 ? H5Type::f32 : size == 8 ? H5Type::f64 : H5Type::other;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    if (size == 4 && is_signed) return H5Type::i32;
    if (size == 8) return is_signed ? H5Type::i64 : H5Type::u64;
  }
  return H5Type::other;
}

Shape shape_of_space(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

hid_t create_space(const Shape& shape) {
  if (shape.empty()) return H5Screate(H5S_SCALAR);
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  return H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
}

hid_t link_props_with_parents() {
  hid_t props = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(props, 1);
  return props;
}

}  // namespace

const char* h5_type_name(H5Type type) {
  switch (type) {
    case H5Type::f32:
      return "float32";
    case H5Type::f64:
      return "float64";
    case H5Type::i32:
      return "int32";
    case H5Type::i64:
      return "int64";
    case H5Type::u64:
      return "uint64";
    case H5Type::text:
      return "string";
    case H5Type::other:
      break;
  }
  return "other";
}

size_t h5_type_size(H5Type type) {
  switch (type) {
    case H5Type::f32:
    case H5Type::i32:
      return 4;
    case H5Type::f64:
    case H5Type::i64:
    case H5Type::u64:
      return 8;
    default:
      return 1;
  }
}

std::string hdf5_error_detail() {
  struct Walk {
    std::string desc;
  } walk;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc) static_cast<Walk*>(data)->desc = err->desc;
        return 0;
      },
      &walk);
  // System errors embed "error message = '...'" in a long line; keep just that part.
  const std::string key = "error message = '";
  const size_t pos = walk.desc.find(key);
  if (pos != std::string::npos) {
    const size_t start = pos + key.size();
    const size_t end = walk.desc.find('\'', start);
    return walk.desc.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return walk.desc;
}

H5File::H5File(const std::string& path, Mode mode) : path_(path) {
  if (mode == Mode::read) {
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file_ < 0)
      throw InputError(with_detail(path + ": cannot open as an HDF5 file (missing, truncated or "
                                          "corrupt)",
                                   hdf5_error_detail()));
    return;
  }
  // 1.8+ object headers and superblock carry checksums of HDF5's own metadata.
  Handle access(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_V110);
  // No sieve buffer: raw data goes to the file inside H5Dwrite, so a failed write (EFBIG, ENOSPC)
  // is reported there, for the dataset at hand, not later from a close that cannot recover.
  H5Pset_sieve_buf_size(access.get(), 0);
  file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
  if (file_ < 0)
    throw RuntimeFailure(with_detail(path + ": cannot create HDF5 file", hdf5_error_detail()));
  writing_ = true;
}

H5File::~H5File() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5File::flush() {
  if (H5Fflush(file_, H5F_SCOPE_LOCAL) < 0)
    throw RuntimeFailure(with_detail(path_ + ": flush failed", hdf5_error_detail()));
}

void H5File::close() {
  if (file_ < 0) return;
  if (writing_) record_link_counts("/");
  const herr_t status = H5Fclose(file_);
  file_ = -1;
  if (status < 0)
    throw RuntimeFailure(with_detail(path_ + ": write failed on close", hdf5_error_detail()));
}

namespace {

void write_dataset(hid_t file, const std::string& path, const std::string& name, const Shape& shape,
                   hid_t mem_type, hid_t file_type, const void* data) {
  Handle space(create_space(shape));
  Handle link_props(link_props_with_parents());
  Handle ds(H5Dcreate2(file, name.c_str(), file_type, space.get(), link_props.get(), H5P_DEFAULT,
                       H5P_DEFAULT));
  herr_t status = -1;
  if (ds.ok()) status = H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (status < 0)
    throw RuntimeFailure(
        with_detail(path + ": cannot write dataset '" + name + "'", hdf5_error_detail()));
}

Handle open_dataset(hid_t file, const std::string& path, const std::string& name) {
  Handle ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT));
  if (!ds.ok())
    throw InputError(with_detail(path + ": dataset '" + name + "' is missing or unreadable",
                                 hdf5_error_detail()));
  return ds;
}

template <typename T>
std::vector<T> read_dataset(hid_t file, const std::string& path, const std::string& name,
                            hid_t mem_type, Shape* shape_out) {
  Handle ds = open_dataset(file, path, name);
  Handle space(H5Dget_space(ds.get()));
  const Shape shape = shape_of_space(space.get());
  std::vector<T> out(static_cast<size_t>(shape_numel(shape)));
  if (H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw InputError(
        with_detail(path + ": dataset '" + name + "' cannot be read", hdf5_error_detail()));
  if (shape_out) *shape_out = shape;
  return out;
}

}  // namespace

void H5File::write_floats(const std::string& name, const Shape& shape, const float* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, data);
}
void H5File::write_ints(const std::string& name, const Shape& shape, const int32_t* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_INT32, H5T_STD_I32LE, data);
}
void H5File::write_doubles(const std::string& name, const Shape& shape, const double* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, data);
}
void H5File::write_int64s(const std::string& name, const Shape& shape, const int64_t* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_INT64, H5T_STD_I64LE, data);
}
void H5File::write_uint64s(const std::string& name, const Shape& shape, const uint64_t* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_UINT64, H5T_STD_U64LE, data);
}
void H5File::write_text(const std::string& name, const std::string& text) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), std::max<size_t>(text.size(), 1));
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const std::string padded = text.empty() ? std::string(1, '\0') : text;
  write_dataset(file_, path_, name, {}, type.get(), type.get(), padded.data());
}

std::vector<float> H5File::read_floats(const std::string& name, Shape* shape) const {
  return read_dataset<float>(file_, path_, name, H5T_NATIVE_FLOAT, shape);
}
std::vector<int32_t> H5File::read_ints(const std::string& name, Shape* shape) const {
  return read_dataset<int32_t>(file_, path_, name, H5T_NATIVE_INT32, shape);
}
std::vector<double> H5File::read_doubles(const std::string& name, Shape* shape) const {
  return read_dataset<double>(file_, path_, name, H5T_NATIVE_DOUBLE, shape);
}
std::vector<int64_t> H5File::read_int64s(const std::string& name, Shape* shape) const {
  return read_dataset<int64_t>(file_, path_, name, H5T_NATIVE_INT64, shape);
}
std::vector<uint64_t> H5File::read_uint64s(const std::string& name, Shape* shape) const {
  return read_dataset<uint64_t>(file_, path_, name, H5T_NATIVE_UINT64, shape);
}

std::string H5File::read_text(const std::string& name) const {
  const std::vector<std::byte> bytes = read_bytes(name);
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  text.resize(std::strlen(text.c_str()));  // fixed-length strings are NUL-padded
  return text;
}

namespace {

// Selects `block` of `space`; false when HDF5 refuses it (a block outside the extent).
bool select_block(hid_t space, const TensorBlock& block) {
  const std::vector<hsize_t> start(block.start.begin(), block.start.end()),
      count(block.count.begin(), block.count.end());
  return H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) >=
         0;
}

// One of a virtual dataset's names (source file or dataset) through HDF5's size-then-fill calls.
template <typename Get>
std::string virtual_name(Get get) {
  const ssize_t length = get(nullptr, 0);
  if (length < 0) return "";
  std::string name(static_cast<size_t>(length), '\0');
  get(name.data(), static_cast<size_t>(length) + 1);
  return name;
}

}  // namespace

void H5File::write_virtual_floats(const std::string& name, const Shape& shape,
                                  const std::vector<H5VirtualSource>& sources) {
  Handle space(create_space(shape));
  Handle create_props(H5Pcreate(H5P_DATASET_CREATE));
  for (const H5VirtualSource& source : sources) {
    const bool flat = source.source_offset >= 0;
    const int64_t numel = shape_numel(source.block.count);
    Handle source_space(
        create_space(flat ? Shape{source.source_offset + numel} : source.block.count));
    if (!select_block(space.get(), source.block) ||
        (flat && !select_block(source_space.get(), {{source.source_offset}, {numel}})) ||
        H5Pset_virtual(create_props.get(), space.get(), source.file.c_str(), source.dataset.c_str(),
                       source_space.get()) < 0)
      throw RuntimeFailure(with_detail(path_ + ": cannot map '" + source.file + ":" +
                                           source.dataset + "' into virtual dataset '" + name + "'",
                                       hdf5_error_detail()));
  }
  Handle link_props(link_props_with_parents());
  Handle ds(H5Dcreate2(file_, name.c_str(), H5T_IEEE_F32LE, space.get(), link_props.get(),
                       create_props.get(), H5P_DEFAULT));
  if (!ds.ok())
    throw RuntimeFailure(
        with_detail(path_ + ": cannot write virtual dataset '" + name + "'", hdf5_error_detail()));
}

std::vector<float> H5File::read_floats_block(const std::string& name,
                                             const TensorBlock& block) const {
  Handle ds = open_dataset(file_, path_, name);
  Handle file_space(H5Dget_space(ds.get()));
  if (static_cast<size_t>(H5Sget_simple_extent_ndims(file_space.get())) != block.start.size() ||
      !select_block(file_space.get(), block) || H5Sselect_valid(file_space.get()) <= 0)
    throw InputError(path_ + ": dataset '" + name + "' of shape " +
                     shape_str(shape_of_space(file_space.get())) + " has no block at " +
                     shape_str(block.start) + " of " + shape_str(block.count));
  Handle memory_space(create_space(block.count));
  std::vector<float> out(static_cast<size_t>(shape_numel(block.count)));
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, memory_space.get(), file_space.get(), H5P_DEFAULT,
              out.data()) < 0)
    throw InputError(
        with_detail(path_ + ": dataset '" + name + "' cannot be read", hdf5_error_detail()));
  return out;
}

std::vector<H5VirtualSource> H5File::virtual_sources(const std::string& name) const {
  Handle ds = open_dataset(file_, path_, name);
  Handle props(H5Dget_create_plist(ds.get()));
  std::vector<H5VirtualSource> sources;
  if (H5Pget_layout(props.get()) != H5D_VIRTUAL) return sources;
  size_t count = 0;
  if (H5Pget_virtual_count(props.get(), &count) < 0)
    throw InputError(with_detail(path_ + ": virtual dataset '" + name + "' has unreadable mappings",
                                 hdf5_error_detail()));
  for (size_t i = 0; i < count; ++i) {
    Handle space(H5Pget_virtual_vspace(props.get(), i));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> first(std::max(rank, 0)), last(std::max(rank, 0));
    if (rank < 0 || H5Sget_select_bounds(space.get(), first.data(), last.data()) < 0)
      throw InputError(path_ + ": virtual dataset '" + name + "' has an unreadable mapping");
    H5VirtualSource source;
    for (int d = 0; d < rank; ++d) {
      source.block.start.push_back(static_cast<int64_t>(first[d]));
      source.block.count.push_back(static_cast<int64_t>(last[d] - first[d] + 1));
    }
    source.file = virtual_name([&](char* buffer, size_t size) {
      return H5Pget_virtual_filename(props.get(), i, buffer, size);
    });
    source.dataset = virtual_name([&](char* buffer, size_t size) {
      return H5Pget_virtual_dsetname(props.get(), i, buffer, size);
    });
    // A hyperslab of a 1-D source is a flat piece; a whole source is selected whole.
    Handle source_space(H5Pget_virtual_srcspace(props.get(), i));
    if (H5Sget_select_type(source_space.get()) == H5S_SEL_HYPERSLABS) {
      hsize_t begin = 0, end = 0;
      if (H5Sget_simple_extent_ndims(source_space.get()) != 1 ||
          H5Sget_select_bounds(source_space.get(), &begin, &end) < 0 ||
          static_cast<int64_t>(end - begin + 1) != shape_numel(source.block.count))
        throw InputError(path_ + ": virtual dataset '" + name + "' has an unreadable mapping");
      source.source_offset = static_cast<int64_t>(begin);
    }
    sources.push_back(std::move(source));
  }
  return sources;
}

std::vector<std::byte> H5File::read_bytes(const std::string& name, H5DatasetInfo* info_out) const {
  Handle ds = open_dataset(file_, path_, name);
  Handle file_type(H5Dget_type(ds.get()));
  Handle space(H5Dget_space(ds.get()));
  H5DatasetInfo info{name, classify(file_type.get()), shape_of_space(space.get())};
  if (info.type == H5Type::other)
    throw InputError(path_ + ": dataset '" + name + "' has an unsupported element type");
  if (info.type == H5Type::text && H5Tis_variable_str(file_type.get()) > 0)
    throw InputError(path_ + ": dataset '" + name + "' is a variable-length string");
  const size_t element =
      info.type == H5Type::text ? H5Tget_size(file_type.get()) : h5_type_size(info.type);
  std::vector<std::byte> out(static_cast<size_t>(shape_numel(info.shape)) * element);
  const hid_t mem_type = info.type == H5Type::text ? file_type.get() : mem_type_of(info.type);
  if (H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw InputError(
        with_detail(path_ + ": dataset '" + name + "' cannot be read", hdf5_error_detail()));
  if (info_out) *info_out = info;
  return out;
}

H5DatasetInfo H5File::info(const std::string& name) const {
  Handle ds = open_dataset(file_, path_, name);
  Handle type(H5Dget_type(ds.get()));
  Handle space(H5Dget_space(ds.get()));
  return {name, classify(type.get()), shape_of_space(space.get())};
}

Shape H5File::shape_of(const std::string& name) const { return info(name).shape; }

bool H5File::has(const std::string& name) const {
  // Check each path component so a missing group is "absent", not an error.
  size_t pos = 0;
  while ((pos = name.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(file_, name.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file_, name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> H5File::list(const std::string& group) const {
  std::vector<std::string> names;
  if (group != "/" && !has(group)) return names;
  const auto unreadable = [&](const std::string& what) {
    return InputError(with_detail(path_ + ": group '" + group + "' " + what, hdf5_error_detail()));
  };
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT));
  H5G_info_t info;
  if (!g.ok() || H5Gget_info(g.get(), &info) < 0) throw unreadable("cannot be opened");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(std::max<ssize_t>(len, 0)), '\0');
    if (len < 0 || H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                                      len + 1, H5P_DEFAULT) < 0)
      throw unreadable("has an unreadable link name (entry " + std::to_string(i) + ")");
    names.push_back(name);
  }
  if (has_attribute(group, "num_links")) {
    const std::string recorded = attribute(group, "num_links");
    if (recorded != std::to_string(names.size()))
      throw unreadable("lists " + std::to_string(names.size()) + " entries but recorded " +
                       recorded);
  } else if (require_link_counts_) {
    throw unreadable("lacks its num_links attribute");
  }
  std::sort(names.begin(), names.end());
  return names;
}

void H5File::record_link_counts(const std::string& group) {
  Handle g(H5Gopen2(file_, group.c_str(), H5P_DEFAULT));
  H5G_info_t info;
  if (!g.ok() || H5Gget_info(g.get(), &info) < 0)
    throw RuntimeFailure(with_detail(path_ + ": group '" + group + "' cannot be opened to close",
                                     hdf5_error_detail()));
  set_attribute(group, "num_links", static_cast<int64_t>(info.nlinks));
  for (const std::string& child : list(group)) {
    const std::string full = group == "/" ? child : group + "/" + child;
    Handle object(H5Oopen(file_, full.c_str(), H5P_DEFAULT));
    if (object.ok() && H5Iget_type(object.get()) == H5I_GROUP) record_link_counts(full);
  }
}

std::vector<H5DatasetInfo> H5File::datasets() const {
  std::vector<H5DatasetInfo> out;
  std::function<void(const std::string&)> walk = [&](const std::string& group) {
    for (const std::string& child : list(group)) {
      const std::string full = group == "/" ? child : group + "/" + child;
      Handle obj(H5Oopen(file_, full.c_str(), H5P_DEFAULT));
      if (!obj.ok())
        throw InputError(
            with_detail(path_ + ": object '" + full + "' cannot be opened", hdf5_error_detail()));
      const H5I_type_t kind = H5Iget_type(obj.get());
      if (kind == H5I_GROUP) walk(full);
      if (kind == H5I_DATASET) out.push_back(info(full));
    }
  };
  walk("/");
  std::sort(out.begin(), out.end(),
            [](const H5DatasetInfo& a, const H5DatasetInfo& b) { return a.name < b.name; });
  return out;
}

int64_t H5File::data_offset(const std::string& name) const {
  Handle ds = open_dataset(file_, path_, name);
  const haddr_t offset = H5Dget_offset(ds.get());
  return offset == HADDR_UNDEF ? -1 : static_cast<int64_t>(offset);
}

namespace {

void write_attribute(hid_t file, const std::string& path, const std::string& object,
                     const std::string& key, hid_t type, const void* value) {
  Handle obj(H5Oopen(file, object.c_str(), H5P_DEFAULT));
  if (!obj.ok()) throw RuntimeFailure(path + ": no object '" + object + "' for attribute " + key);
  if (H5Aexists(obj.get(), key.c_str()) > 0) H5Adelete(obj.get(), key.c_str());
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(obj.get(), key.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.ok() || H5Awrite(attr.get(), type, value) < 0)
    throw RuntimeFailure(with_detail(path + ": cannot write attribute " + key + " on " + object,
                                     hdf5_error_detail()));
}

}  // namespace

void H5File::set_attribute(const std::string& object, const std::string& key,
                           const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), std::max<size_t>(value.size(), 1));
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attribute(file_, path_, object, key, type.get(), padded.data());
}

void H5File::set_attribute(const std::string& object, const std::string& key, int64_t value) {
  write_attribute(file_, path_, object, key, H5T_NATIVE_INT64, &value);
}

void H5File::set_attribute(const std::string& object, const std::string& key, double value) {
  write_attribute(file_, path_, object, key, H5T_NATIVE_DOUBLE, &value);
}

bool H5File::has_attribute(const std::string& object, const std::string& key) const {
  Handle obj(H5Oopen(file_, object.c_str(), H5P_DEFAULT));
  return obj.ok() && H5Aexists(obj.get(), key.c_str()) > 0;
}

std::string H5File::attribute(const std::string& object, const std::string& key) const {
  Handle obj(H5Oopen(file_, object.c_str(), H5P_DEFAULT));
  if (!obj.ok()) throw InputError(path_ + ": object '" + object + "' is missing");
  Handle attr(H5Aopen(obj.get(), key.c_str(), H5P_DEFAULT));
  if (!attr.ok())
    throw InputError(path_ + ": attribute '" + key + "' is missing on '" + object + "'");
  Handle type(H5Aget_type(attr.get()));
  const H5T_class_t cls = H5Tget_class(type.get());
  herr_t status = 0;
  std::string value;
  if (cls == H5T_INTEGER) {
    int64_t v = 0;
    status = H5Aread(attr.get(), H5T_NATIVE_INT64, &v);
    value = std::to_string(v);
  } else if (cls == H5T_FLOAT) {
    double v = 0;
    status = H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v);
    value = fmt::format("{}", v);
  } else if (H5Tis_variable_str(type.get()) > 0) {
    char* buffer = nullptr;
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    status = H5Aread(attr.get(), mem.get(), &buffer);
    value = buffer ? buffer : "";
    H5free_memory(buffer);
  } else {
    value.resize(H5Tget_size(type.get()));
    status = H5Aread(attr.get(), type.get(), value.data());
    value.resize(std::strlen(value.c_str()));
  }
  if (status < 0)
    throw InputError(
        with_detail(path_ + ": attribute '" + key + "' on '" + object + "' cannot be read",
                    hdf5_error_detail()));
  return value;
}

std::vector<std::pair<std::string, std::string>> H5File::attributes(
    const std::string& object) const {
  Handle obj(H5Oopen(file_, object.c_str(), H5P_DEFAULT));
  if (!obj.ok()) throw InputError(path_ + ": object '" + object + "' is missing");
  std::vector<std::string> keys;
  hsize_t index = 0;
  H5Aiterate2(
      obj.get(), H5_INDEX_NAME, H5_ITER_INC, &index,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &keys);
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& key : keys) out.emplace_back(key, attribute(object, key));
  return out;
}

}  // namespace gatedlm
