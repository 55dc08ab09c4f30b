#include "gatedlm/checkpoint/virtual_layout.h"

#include <fmt/format.h>

#include <algorithm>
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

void write_shard_file(const std::string& path, int64_t step, const std::vector<TensorSlot>& slots,
                      const ShardValues& values, const ShardedLayout& layout, int shard) {
  H5File f(path, H5File::Mode::truncate);
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const ShardedTensor& tensor = layout.tensors[i];
    const TensorPiece* piece = piece_of(tensor, shard);
    if (!piece) continue;  // stored by another shard (replicated tensors by shard 0)
    const TensorSlot& slot = slots.at(i);
    if (slot.name != tensor.name || slot.shape != piece->stored_shape())
      throw std::logic_error("shard file: " + slot.name + " " + shape_str(slot.shape) +
                             " is not piece " + tensor.name + " " +
                             shape_str(piece->stored_shape()));
    for (const auto& [prefix, buffer] :
         {std::pair{kModelPrefix, values.params}, std::pair{kExpAvgPrefix, values.exp_avg},
          std::pair{kExpAvgSqPrefix, values.exp_avg_sq}}) {
      if (!buffer) continue;
      const std::string name = prefix + tensor.name;
      const float* data = buffer + slot.offset;
      f.write_floats(name, slot.shape, data);
      write_checksum(f, name, data, static_cast<size_t>(shape_numel(slot.shape)) * sizeof(float));
    }
  }
  f.set_attribute("/", "format", std::string(kCheckpointFormat) + "-shard");
  f.set_attribute("/", "shard", int64_t{shard});
  f.set_attribute("/", "shards", static_cast<int64_t>(layout.files.size()));
  f.set_attribute("/", "step", step);
  f.close();
}

void write_virtual_tensors(H5File& file, const std::string& prefix, const ShardedLayout& layout) {
  for (const ShardedTensor& tensor : layout.tensors) {
    std::vector<H5VirtualSource> sources;
    for (const TensorPiece& piece : tensor.pieces) {
      const std::string& source_file = layout.files.at(static_cast<size_t>(piece.shard));
      if (!piece.flat()) {
        sources.push_back({source_file, prefix + tensor.name, piece.block});
        continue;
      }
      int64_t at = 0;
      for (TensorBlock part : flat_range_blocks(piece.block, piece.flat_begin, piece.flat_end)) {
        const int64_t length = shape_numel(part.count);
        sources.push_back({source_file, prefix + tensor.name, std::move(part), at});
        at += length;
      }
    }
    file.write_virtual_floats(prefix + tensor.name, tensor.shape, sources);
  }
}

namespace {

// One stored dataset behind a virtual dataset, with every mapping of it in source order: one
// for a whole piece, one per block of a flat piece.
struct StoredPiece {
  std::string file, dataset;
  std::vector<H5VirtualSource> parts;
  const Shape& first_element() const { return parts.front().block.start; }
  // The shape the dataset must have: a whole piece's block, or a flat piece's 1-D length, which
  // its mappings cover end to end.
  Shape stored_shape() const {
    if (parts.front().source_offset < 0) return parts.front().block.count;
    int64_t length = 0;
    for (const H5VirtualSource& part : parts) length += shape_numel(part.block.count);
    return {length};
  }
};

// The stored datasets behind a virtual dataset's mappings. Each must be one whole piece or flat
// parts that tile it from element 0 (so the gathering below stays inside it); anything else is
// a damaged file.
std::vector<StoredPiece> stored_pieces(const H5File& file, const std::string& name,
                                       const std::vector<H5VirtualSource>& sources) {
  std::vector<StoredPiece> pieces;
  for (const H5VirtualSource& s : sources) {
    auto it = std::find_if(pieces.begin(), pieces.end(), [&](const StoredPiece& p) {
      return p.file == s.file && p.dataset == s.dataset;
    });
    if (it == pieces.end()) it = pieces.insert(pieces.end(), {s.file, s.dataset, {}});
    it->parts.push_back(s);
  }
  for (StoredPiece& p : pieces) {
    std::sort(p.parts.begin(), p.parts.end(),
              [](const auto& a, const auto& b) { return a.source_offset < b.source_offset; });
    int64_t next = 0;
    bool tiles = p.parts.front().source_offset >= 0 || p.parts.size() == 1;
    for (const H5VirtualSource& part : p.parts) {
      if (part.source_offset < 0) continue;
      tiles &= part.source_offset == next;
      next += shape_numel(part.block.count);
    }
    if (!tiles)
      throw CheckpointCorrupt(file.path() + ": virtual dataset '" + name + "' maps '" + p.file +
                              ":" + p.dataset + "' inconsistently");
  }
  return pieces;
}

}  // namespace

std::vector<float> read_verified_blocks(const H5File& file, const std::string& name,
                                        const std::vector<TensorBlock>& blocks) {
  const H5DatasetInfo info = file.info(name);
  if (info.type != H5Type::f32)
    throw CheckpointCorrupt(file.path() + ": dataset '" + name + "' is " + h5_type_name(info.type) +
                            ", expected float32");
  std::vector<H5VirtualSource> sources = file.virtual_sources(name);
  const bool is_virtual = !sources.empty();
  if (!is_virtual) sources.push_back({"", name, whole_block(info.shape)});
  const auto overlaps_a_block = [&](const TensorBlock& b) {
    return std::any_of(blocks.begin(), blocks.end(),
                       [&](const TensorBlock& block) { return blocks_overlap(block, b); });
  };
  // A virtual dataset reads a missing source file as zeros, so every one it needs must exist.
  for (const H5VirtualSource& s : sources)
    if (is_virtual && overlaps_a_block(s.block) && !fs::exists(source_path(file, s.file)))
      throw CheckpointCorrupt(file.path() + ": dataset '" + name + "' maps shard file " +
                              source_path(file, s.file) + ", which is missing");
  std::vector<float> data;
  std::vector<int64_t> block_begin;  // where each block starts in `data`
  for (const TensorBlock& block : blocks) {
    block_begin.push_back(static_cast<int64_t>(data.size()));
    const std::vector<float> part = file.read_floats_block(name, block);
    data.insert(data.end(), part.begin(), part.end());
  }
  // The requested block that holds all of `b`, or -1.
  const auto holder = [&](const TensorBlock& b) {
    for (size_t i = 0; i < blocks.size(); ++i)
      if (block_contains(blocks[i], b)) return static_cast<int>(i);
    return -1;
  };
  for (const StoredPiece& stored : stored_pieces(file, name, sources)) {
    if (std::none_of(blocks.begin(), blocks.end(), [&](const TensorBlock& block) {
          return block_contains_point(block, stored.first_element());
        }))
      continue;  // another reader's
    std::unique_ptr<H5File> opened;
    if (is_virtual)
      opened = std::make_unique<H5File>(source_path(file, stored.file), H5File::Mode::read);
    const H5File& source = opened ? *opened : file;
    const bool inside = std::all_of(stored.parts.begin(), stored.parts.end(),
                                    [&](const auto& part) { return holder(part.block) >= 0; });
    std::string problem;
    if (inside) {  // the stored bytes, gathered from the blocks
      std::vector<float> piece(static_cast<size_t>(shape_numel(stored.stored_shape())));
      for (const H5VirtualSource& part : stored.parts) {
        const int at = holder(part.block);
        const TensorBlock& block = blocks[static_cast<size_t>(at)];
        const float* from = data.data() + block_begin[static_cast<size_t>(at)];
        const int64_t base = std::max<int64_t>(part.source_offset, 0);
        for_each_block_run(block.count, relative_block(block, part.block),
                           [&](int64_t at_block, int64_t at_part, int64_t length) {
                             std::copy(from + at_block, from + at_block + length,
                                       piece.data() + base + at_part);
                           });
      }
      problem =
          checksum_problem(source, stored.dataset, piece.data(), piece.size() * sizeof(float));
    } else {
      const std::vector<std::byte> bytes = source.read_bytes(stored.dataset);
      problem = checksum_problem(source, stored.dataset, bytes.data(), bytes.size());
    }
    if (!problem.empty())
      throw CheckpointCorrupt(source.path() + ": dataset '" + stored.dataset + "': " + problem);
  }
  return data;
}

std::vector<std::pair<std::string, std::string>> verify_virtual_sources(const H5File& file,
                                                                        const std::string& name) {
  std::vector<std::pair<std::string, std::string>> checks;
  for (const StoredPiece& stored : stored_pieces(file, name, file.virtual_sources(name))) {
    const std::string path = source_path(file, stored.file);
    std::string problem;
    try {
      const H5File source(path, H5File::Mode::read);
      H5DatasetInfo info;
      const std::vector<std::byte> bytes = source.read_bytes(stored.dataset, &info);
      problem =
          info.shape != stored.stored_shape()
              ? "shape " + shape_str(info.shape) + ", mapped as " + shape_str(stored.stored_shape())
              : checksum_problem(source, stored.dataset, bytes.data(), bytes.size());
    } catch (const InputError& e) {
      problem = e.what();
    }
    checks.emplace_back(path + ": dataset '" + stored.dataset + "'", problem);
  }
  return checks;
}

}  // namespace gatedlm
