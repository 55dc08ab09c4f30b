#include "gatedlm/checkpoint/h5_file.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>

#include "gatedlm/core/error.h"

namespace gatedlm {
namespace {

// HDF5 prints its own error stack by default; we report our own one-line errors instead.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
} silence_hdf5;

std::vector<hsize_t> dims_of(const Shape& shape) {
  return std::vector<hsize_t>(shape.begin(), shape.end());
}

void write_dataset(hid_t file, const std::string& path, const std::string& name,
                   const Shape& shape, hid_t mem_type, hid_t file_type, const void* data) {
  const auto dims = dims_of(shape);
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t link_props = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link_props, 1);
  hid_t ds = H5Dcreate2(file, name.c_str(), file_type, space, link_props, H5P_DEFAULT,
                        H5P_DEFAULT);
  herr_t status = ds < 0 ? -1 : H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(link_props);
  H5Sclose(space);
  if (status < 0) throw RuntimeFailure(path + ": cannot write dataset '" + name + "'");
}

template <typename T>
std::vector<T> read_dataset(hid_t file, const std::string& path, const std::string& name,
                            hid_t mem_type, Shape* shape_out) {
  hid_t ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (ds < 0) throw InputError(path + ": dataset '" + name + "' is missing");
  hid_t space = H5Dget_space(ds);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Shape shape(dims.begin(), dims.end());
  std::vector<T> out(static_cast<size_t>(shape_numel(shape)));
  const herr_t status = H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  H5Sclose(space);
  H5Dclose(ds);
  if (status < 0) throw InputError(path + ": dataset '" + name + "' cannot be read");
  if (shape_out) *shape_out = shape;
  return out;
}

}  // namespace

H5File::H5File(const std::string& path, Mode mode) : path_(path) {
  file_ = mode == Mode::read ? H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)
                             : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file_ < 0) {
    if (mode == Mode::read) throw InputError(path + ": cannot open as an HDF5 file");
    throw RuntimeFailure(path + ": cannot create HDF5 file");
  }
}

H5File::~H5File() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5File::flush() { H5Fflush(file_, H5F_SCOPE_LOCAL); }

void H5File::write_floats(const std::string& name, const Shape& shape, const float* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, data);
}
void H5File::write_ints(const std::string& name, const Shape& shape, const int32_t* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_INT32, H5T_STD_I32LE, data);
}
void H5File::write_doubles(const std::string& name, const Shape& shape, const double* data) {
  write_dataset(file_, path_, name, shape, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, data);
}

std::vector<float> H5File::read_floats(const std::string& name, Shape* shape) const {
  return read_dataset<float>(file_, path_, name, H5T_NATIVE_FLOAT, shape);
}
std::vector<int32_t> H5File::read_ints(const std::string& name, Shape* shape) const {
  return read_dataset<int32_t>(file_, path_, name, H5T_NATIVE_INT32, shape);
}

Shape H5File::shape_of(const std::string& name) const {
  hid_t ds = H5Dopen2(file_, name.c_str(), H5P_DEFAULT);
  if (ds < 0) throw InputError(path_ + ": dataset '" + name + "' is missing");
  hid_t space = H5Dget_space(ds);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Sclose(space);
  H5Dclose(ds);
  return Shape(dims.begin(), dims.end());
}

bool H5File::has(const std::string& name) const {
  // Check each path component so a missing group is "absent", not an error.
  size_t pos = 0;
  while ((pos = name.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(file_, name.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file_, name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> H5File::list(const std::string& group) const {
  std::vector<std::string> names;
  hid_t g = H5Gopen2(file_, group.c_str(), H5P_DEFAULT);
  if (g < 0) return names;
  H5G_info_t info;
  H5Gget_info(g, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  H5Gclose(g);
  std::sort(names.begin(), names.end());
  return names;
}

void H5File::set_attribute(const std::string& object, const std::string& key,
                           const std::string& value) {
  hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
  if (obj < 0) throw RuntimeFailure(path_ + ": no object '" + object + "' for attribute " + key);
  if (H5Aexists(obj, key.c_str()) > 0) H5Adelete(obj, key.c_str());
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, std::max<size_t>(value.size(), 1));
  H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(obj, key.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  const herr_t status = attr < 0 ? -1 : H5Awrite(attr, type, value.data());
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
  H5Oclose(obj);
  if (status < 0) throw RuntimeFailure(path_ + ": cannot write attribute " + key);
}

bool H5File::has_attribute(const std::string& object, const std::string& key) const {
  hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
  if (obj < 0) return false;
  const bool exists = H5Aexists(obj, key.c_str()) > 0;
  H5Oclose(obj);
  return exists;
}

std::string H5File::attribute(const std::string& object, const std::string& key) const {
  hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
  if (obj < 0) throw InputError(path_ + ": object '" + object + "' is missing");
  hid_t attr = H5Aopen(obj, key.c_str(), H5P_DEFAULT);
  if (attr < 0) {
    H5Oclose(obj);
    throw InputError(path_ + ": attribute '" + key + "' is missing on '" + object + "'");
  }
  hid_t type = H5Aget_type(attr);
  std::string value;
  if (H5Tis_variable_str(type) > 0) {
    char* buffer = nullptr;
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Aread(attr, mem, &buffer);
    value = buffer ? buffer : "";
    H5free_memory(buffer);
    H5Tclose(mem);
  } else {
    value.resize(H5Tget_size(type));
    H5Aread(attr, type, value.data());
    value.resize(std::strlen(value.c_str()));
  }
  H5Tclose(type);
  H5Aclose(attr);
  H5Oclose(obj);
  return value;
}

}  // namespace gatedlm
