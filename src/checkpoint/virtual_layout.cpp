#include "gatedlm/checkpoint/virtual_layout.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "gatedlm/checkpoint/checksum.h"
#include "gatedlm/checkpoint/format.h"

namespace gatedlm {
namespace fs = std::filesystem;
namespace {

const TensorPiece* piece_of(const ShardedTensor& tensor, int shard) {
  for (const TensorPiece& piece : tensor.pieces)
    if (piece.shard == shard) return &piece;
  return nullptr;
}

// A source file named by a virtual dataset, relative to the virtual dataset's file.
std::string source_path(const H5File& file, const std::string& source) {
  return (fs::path(file.path()).parent_path() / source).string();
}

}  // namespace

std::string shard_file_name(int shard, int shards) {
  return fmt::format("model-tp{:02d}-of-{:02d}.h5", shard, shards);
}

void write_shard_file(const std::string& path, const CheckpointState& state,
                      const ShardedLayout& layout, int shard) {
  H5File f(path, H5File::Mode::truncate);
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const ShardedTensor& tensor = layout.tensors[i];
    const TensorPiece* piece = piece_of(tensor, shard);
    if (!piece) continue;  // a replicated tensor, stored by shard 0
    const TensorSlot& slot = state.tensors.at(i);
    if (slot.name != tensor.name || slot.shape != piece->block.count)
      throw std::logic_error("shard file: " + slot.name + " " + shape_str(slot.shape) +
                             " is not piece " + tensor.name + " " + shape_str(piece->block.count));
    for (const auto& [prefix, values] :
         {std::pair{kModelPrefix, &state.params}, std::pair{kExpAvgPrefix, &state.exp_avg},
          std::pair{kExpAvgSqPrefix, &state.exp_avg_sq}}) {
      if (values->empty()) continue;  // a model without optimizer state
      const std::string name = prefix + tensor.name;
      const float* data = values->data() + slot.offset;
      f.write_floats(name, slot.shape, data);
      write_checksum(f, name, data, static_cast<size_t>(shape_numel(slot.shape)) * sizeof(float));
    }
  }
  f.set_attribute("/", "format", std::string(kCheckpointFormat) + "-shard");
  f.set_attribute("/", "shard", int64_t{shard});
  f.set_attribute("/", "shards", int64_t{layout.shards});
  f.set_attribute("/", "step", state.step);
  f.close();
}

void write_virtual_tensors(H5File& file, const std::string& prefix, const ShardedLayout& layout) {
  for (const ShardedTensor& tensor : layout.tensors) {
    std::vector<H5VirtualSource> sources;
    for (const TensorPiece& piece : tensor.pieces)
      sources.push_back(
          {shard_file_name(piece.shard, layout.shards), prefix + tensor.name, piece.block});
    file.write_virtual_floats(prefix + tensor.name, tensor.shape, sources);
  }
}

std::vector<float> read_verified_block(const H5File& file, const std::string& name,
                                       const TensorBlock& block) {
  const H5DatasetInfo info = file.info(name);
  if (info.type != H5Type::f32)
    throw CheckpointCorrupt(file.path() + ": dataset '" + name + "' is " + h5_type_name(info.type) +
                            ", expected float32");
  std::vector<H5VirtualSource> sources = file.virtual_sources(name);
  const bool is_virtual = !sources.empty();
  if (!is_virtual) sources.push_back({"", name, whole_block(info.shape)});
  // A virtual dataset reads a missing source file as zeros, so every one it needs must exist.
  for (const H5VirtualSource& s : sources)
    if (is_virtual && blocks_overlap(block, s.block) && !fs::exists(source_path(file, s.file)))
      throw CheckpointCorrupt(file.path() + ": dataset '" + name + "' maps shard file " +
                              source_path(file, s.file) + ", which is missing");
  const std::vector<float> data = file.read_floats_block(name, block);
  for (const H5VirtualSource& s : sources) {
    if (!block_contains_point(block, s.block.start)) continue;  // another reader checks it
    std::unique_ptr<H5File> opened;
    if (is_virtual)
      opened = std::make_unique<H5File>(source_path(file, s.file), H5File::Mode::read);
    const H5File& source = opened ? *opened : file;
    std::string problem;
    if (block == s.block) {
      problem = checksum_problem(source, s.dataset, data.data(), data.size() * sizeof(float));
    } else if (block_contains(block, s.block)) {
      std::vector<float> piece(static_cast<size_t>(shape_numel(s.block.count)));
      for_each_block_run(block.count, relative_block(block, s.block),
                         [&](int64_t at_block, int64_t at_piece, int64_t length) {
                           std::copy(data.data() + at_block, data.data() + at_block + length,
                                     piece.data() + at_piece);
                         });
      problem = checksum_problem(source, s.dataset, piece.data(), piece.size() * sizeof(float));
    } else {
      const std::vector<std::byte> bytes = source.read_bytes(s.dataset);
      problem = checksum_problem(source, s.dataset, bytes.data(), bytes.size());
    }
    if (!problem.empty())
      throw CheckpointCorrupt(source.path() + ": dataset '" + s.dataset + "': " + problem);
  }
  return data;
}

std::vector<std::pair<std::string, std::string>> verify_virtual_sources(const H5File& file,
                                                                        const std::string& name) {
  std::vector<std::pair<std::string, std::string>> checks;
  for (const H5VirtualSource& s : file.virtual_sources(name)) {
    const std::string path = source_path(file, s.file);
    std::string problem;
    try {
      const H5File source(path, H5File::Mode::read);
      H5DatasetInfo info;
      const std::vector<std::byte> bytes = source.read_bytes(s.dataset, &info);
      problem = info.shape != s.block.count
                    ? "shape " + shape_str(info.shape) + ", mapped as " + shape_str(s.block.count)
                    : checksum_problem(source, s.dataset, bytes.data(), bytes.size());
    } catch (const InputError& e) {
      problem = e.what();
    }
    checks.emplace_back(path + ": dataset '" + s.dataset + "'", problem);
  }
  return checks;
}

}  // namespace gatedlm
