// Blocks of tensors in checkpoints: the hyperslab reader, the block arithmetic, and tensor-
// parallel shard files behind virtual datasets read whole and as other layouts' slices, with
// their checksums checked. End-to-end runs are in tests/integration/test_checkpoint_shards.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/checkpoint/tensor_slices.h"
#include "gatedlm/checkpoint/virtual_layout.h"
#include "gatedlm/comm/partition.h"
#include "gatedlm/core/error.h"
#include "gatedlm/model/shard_layout.h"
#include "temp_dir_test.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

class CheckpointSlicesTest : public TempDirTest {
 protected:
  CheckpointSlicesTest() : TempDirTest("gatedlm_slices_") {}
};

// Element (i, j, k) of a tensor of `shape` holds 100 i + 10 j + k (any rank up to 3).
float value_at(const Shape& index) {
  float v = 0.0f;
  for (int64_t i : index) v = 10.0f * v + static_cast<float>(i);
  return v;
}

std::vector<float> indexed_values(const Shape& shape) {
  std::vector<float> out;
  Shape index(shape.size(), 0);
  for (int64_t n = 0; n < shape_numel(shape); ++n) {
    out.push_back(value_at(index));
    for (size_t d = shape.size(); d-- > 0;)
      if (++index[d] < shape[d])
        break;
      else
        index[d] = 0;
  }
  return out;
}

TEST_F(CheckpointSlicesTest, ReadsExactlyTheRequestedHyperslab) {
  H5File out(file("t.h5"), H5File::Mode::truncate);
  const Shape shape3 = {4, 5, 6}, shape1 = {9};
  out.write_floats("x", shape3, indexed_values(shape3).data());
  out.write_floats("y", shape1, indexed_values(shape1).data());
  out.close();
  const H5File in(file("t.h5"), H5File::Mode::read);
  const TensorBlock block{{1, 2, 3}, {2, 3, 2}};
  const std::vector<float> got = in.read_floats_block("x", block);
  std::vector<float> expected;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 2; ++k) expected.push_back(value_at({1 + i, 2 + j, 3 + k}));
  EXPECT_EQ(got, expected);
  EXPECT_EQ(in.read_floats_block("y", {{7}, {2}}), (std::vector<float>{7.0f, 8.0f}));
  EXPECT_EQ(in.read_floats_block("x", whole_block(shape3)), indexed_values(shape3));
  EXPECT_THROW(in.read_floats_block("x", {{3, 0, 0}, {2, 5, 6}}), InputError);  // past the end
  EXPECT_THROW(in.read_floats_block("x", {{0}, {1}}), InputError);              // wrong rank

  // The in-memory block arithmetic agrees with HDF5's.
  const std::vector<float> whole = indexed_values(shape3);
  std::vector<float> copied(static_cast<size_t>(shape_numel(block.count)));
  for_each_block_run(shape3, block, [&](int64_t at, int64_t packed, int64_t length) {
    std::copy(whole.begin() + at, whole.begin() + at + length, copied.begin() + packed);
  });
  EXPECT_EQ(copied, expected);
}

// Every flat range of tensors of rank 0 to 3 becomes blocks that hold exactly its elements, in
// order, with at most 2 * rank - 1 blocks.
TEST_F(CheckpointSlicesTest, FlatRangesBecomeFewBlocksInElementOrder) {
  for (const Shape& shape : {Shape{}, Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{3, 1, 2}}) {
    const int64_t n = shape_numel(shape);
    for (int64_t begin = 0; begin <= n; ++begin)
      for (int64_t end = begin; end <= n; ++end) {
        const std::vector<TensorBlock> blocks = flat_range_blocks(shape, begin, end);
        std::vector<int64_t> covered;
        for (const TensorBlock& b : blocks)
          for_each_block_run(shape, b, [&](int64_t at, int64_t, int64_t length) {
            for (int64_t i = 0; i < length; ++i) covered.push_back(at + i);
          });
        std::vector<int64_t> expected(static_cast<size_t>(end - begin));
        std::iota(expected.begin(), expected.end(), begin);
        EXPECT_EQ(covered, expected) << shape_str(shape) << " [" << begin << ", " << end << ")";
        EXPECT_LE(blocks.size(), std::max<size_t>(1, 2 * shape.size() - 1)) << shape_str(shape);
      }
  }
}

// A tensor-parallel model of three tensors: rows split, columns split, replicated.
std::vector<ParamInfo> local_infos() {
  std::vector<ParamInfo> infos(3);
  infos[0].name = "model.layers.0.mlp.up_proj.weight";
  infos[0].shape = {2, 3};
  infos[0].spec = weight_spec(TensorSplit::column);
  infos[0].split_dim = split_dimension(TensorSplit::column);
  infos[1].name = "model.layers.0.mlp.down_proj.weight";
  infos[1].shape = {3, 2};
  infos[1].spec = weight_spec(TensorSplit::row);
  infos[1].split_dim = split_dimension(TensorSplit::row);
  infos[1].offset = 6;
  infos[2].name = "model.norm.weight";
  infos[2].shape = {3};
  infos[2].offset = 12;
  return infos;
}

CheckpointState shard_state(const std::vector<float>& whole, int rank, int size) {
  CheckpointState s;
  s.step = 3;
  s.config_yaml = "model: {}\n";
  for (const ParamInfo& p : local_infos()) s.tensors.push_back({p.name, p.shape, p.offset});
  s.params = cut_shard_values(whole, local_infos(), rank, size);
  for (float v : s.params) {
    s.exp_avg.push_back(0.5f * v);
    s.exp_avg_sq.push_back(0.25f * v);
  }
  return s;
}

ShardValues values_of(const CheckpointState& s) {
  return {s.params.data(), s.exp_avg.data(), s.exp_avg_sq.data()};
}

// Writes a TP=2 checkpoint as the ranks would: two shard files and model.h5 over them.
std::vector<float> write_tp2_checkpoint(const fs::path& dir) {
  std::vector<float> whole(27);  // the whole model: [4, 3], [3, 4], [3]
  std::iota(whole.begin(), whole.end(), 1.0f);
  const ShardedLayout layout = sharded_layout(local_infos(), 2);
  for (int t = 0; t < 2; ++t) {
    const CheckpointState shard = shard_state(whole, t, 2);
    write_shard_file((dir / shard_file_name(t, 2)).string(), shard.step, shard.tensors,
                     values_of(shard), layout, t);
  }
  write_checkpoint_file((dir / "model.h5").string(), shard_state(whole, 0, 2), &layout);
  return whole;
}

TEST_F(CheckpointSlicesTest, ShardFilesReadWholeAndAsAnyLayoutsSlices) {
  const std::vector<float> whole = write_tp2_checkpoint(dir_);
  const std::vector<ParamInfo> whole_infos = whole_model_infos(local_infos(), 2);
  // Whole tensors through the virtual datasets, as a single process reads them.
  const CheckpointState all = read_checkpoint_file(file("model.h5"), &whole_infos);
  EXPECT_EQ(all.params, whole);
  EXPECT_EQ(all.tensors[1].shape, (Shape{3, 4}));
  // Rank 1 of 2 reads its own shard file's blocks; ranks of 1 and 3 other layouts read blocks
  // that cross shard files or lie inside one.
  for (int size : {1, 2}) {
    std::vector<ParamInfo> local = local_infos();
    if (size == 1) local = whole_infos;
    for (int rank = 0; rank < size; ++rank) {
      const CheckpointSlices slices = tensor_slices(local, rank, size);
      const CheckpointState got =
          read_checkpoint_file(file("model.h5"), &whole_infos, true, &slices);
      EXPECT_EQ(got.params, size == 1 ? whole : cut_shard_values(whole, local_infos(), rank, 2));
      EXPECT_EQ(got.tensors[0].shape, slices.params[0]->count);
      for (size_t i = 0; i < got.params.size(); ++i)
        EXPECT_EQ(got.exp_avg[i], 0.5f * got.params[i]);
    }
  }
  // A block inside one piece (a TP=4 rank would read rows 1..1 of up_proj).
  const H5File f(file("model.h5"), H5File::Mode::read);
  EXPECT_EQ(read_verified_block(f, "model/model.layers.0.mlp.up_proj.weight", {{1, 0}, {1, 3}}),
            (std::vector<float>{4, 5, 6}));                            // row 1 of up_proj
  EXPECT_EQ(f.virtual_sources("model/model.norm.weight").size(), 1u);  // stored once, by shard 0
  EXPECT_EQ(f.virtual_sources("model/model.layers.0.mlp.down_proj.weight")[1].file,
            "model-tp01-of-02.h5");
  EXPECT_EQ(f.attribute("/", "shards"), "2");
  EXPECT_EQ(f.attribute("/", "num_parameters"), "27");
}

// TP=2 x ZeRO-1 over 2 data ranks: the model in the two shard files, the moments in four files
// of flat pieces (data rank d of tensor rank t holds block d of t's 15-element flat buffer, which
// cuts up_proj and down_proj mid-row). Read whole, as a TP rank's blocks and verified.
TEST_F(CheckpointSlicesTest, ZeroMomentFilesReadWholeAndAsSlices) {
  std::vector<float> whole(27);
  std::iota(whole.begin(), whole.end(), 1.0f);
  const std::vector<ParamInfo> local = local_infos();
  const ShardedLayout model = sharded_layout(local, 2);
  const Partition partition = even_partition(15, 2);  // [0, 8) and [8, 15)
  const ShardedLayout moments = zero_moment_layout(local, 2, partition);
  ASSERT_EQ(moments.files.size(), 4u);
  EXPECT_EQ(moments.files[3], "moments-tp01-of-02-dp01-of-02.h5");
  EXPECT_EQ(moments.tensors[2].pieces.size(), 1u);  // the replicated norm: from tp 0, dp 1
  for (int t = 0; t < 2; ++t) {
    const CheckpointState shard = shard_state(whole, t, 2);
    write_shard_file(file(shard_file_name(t, 2)), shard.step, shard.tensors,
                     {shard.params.data(), nullptr, nullptr}, model, t);
    for (int d = 0; d < 2; ++d) {
      const int index = t * 2 + d;
      const int64_t begin = partition.begin(d);
      write_shard_file(
          file(moments.files[index]), shard.step, zero_file_slots(local, moments, index, begin),
          {nullptr, shard.exp_avg.data() + begin, shard.exp_avg_sq.data() + begin}, moments, index);
    }
  }
  write_checkpoint_file(file("model.h5"), shard_state(whole, 0, 2), &model, &moments);

  const std::vector<ParamInfo> whole_infos = whole_model_infos(local, 2);
  const CheckpointState all = read_checkpoint_file(file("model.h5"), &whole_infos);
  EXPECT_EQ(all.params, whole);
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(all.exp_avg[i], 0.5f * whole[i]) << i;
    EXPECT_EQ(all.exp_avg_sq[i], 0.25f * whole[i]) << i;
  }
  // A flat range of each ZeRO block: the same data ranks (each reads its own piece of every
  // tensor), then 3 data ranks (blocks across the stored pieces, verified by reading them).
  const auto range = [](const std::vector<float>& v, int64_t begin, int64_t end) {
    return std::vector<float>(v.begin() + begin, v.begin() + end);
  };
  for (const Partition& reader : {partition, even_partition(15, 3)})
    for (int t = 0; t < 2; ++t) {
      const CheckpointSlices whole_moments = tensor_slices(local, t, 2);
      const CheckpointState shard = shard_state(whole, t, 2);
      EXPECT_EQ(read_checkpoint_file(file("model.h5"), &whole_infos, true, &whole_moments).exp_avg,
                shard.exp_avg)
          << "tensor rank " << t;
      for (int d = 0; d < static_cast<int>(reader.counts.size()); ++d) {
        const CheckpointSlices slices = tensor_slices(local, t, 2, &reader, d);
        const CheckpointState got =
            read_checkpoint_file(file("model.h5"), &whole_infos, true, &slices);
        EXPECT_EQ(got.params, shard.params);
        EXPECT_EQ(got.exp_avg, range(shard.exp_avg, reader.begin(d), reader.end(d)))
            << "tensor rank " << t << ", data rank " << d << " of " << reader.counts.size();
        EXPECT_EQ(got.exp_avg_sq, range(shard.exp_avg_sq, reader.begin(d), reader.end(d)));
      }
    }
  // Tensor rank 1's block of down_proj ([3, 2] from column 2) from its local element 2 on, for
  // data rank 1 of 2: rows 1 and 2. Its block of up_proj ([2, 3] from row 2) up to element 5, for
  // data rank 0 of 3: row 2, then row 3's first two elements.
  EXPECT_EQ(tensor_slices(local, 1, 2, &partition, 1).moments[1],
            (std::vector<TensorBlock>{{{1, 2}, {2, 2}}}));
  const Partition three = even_partition(15, 3);
  EXPECT_EQ(tensor_slices(local, 1, 2, &three, 0).moments[0],
            (std::vector<TensorBlock>{{{2, 0}, {1, 3}}, {{3, 0}, {1, 2}}}));
  const H5File f(file("model.h5"), H5File::Mode::read);
  EXPECT_EQ(f.attribute("/", "shards"), "6");
  for (const DatasetCheck& check : verify_checkpoint_file(file("model.h5")))
    EXPECT_EQ(check.problem, "") << check.dataset;

  // A damaged moments file is named by whichever reader covers the piece's first element.
  const std::string name = "optimizer/exp_avg/model.layers.0.mlp.down_proj.weight";
  {
    const H5File piece(file(moments.files[1]), H5File::Mode::read);
    const int64_t at = piece.data_offset(name);
    ASSERT_GT(at, 0);
    std::fstream io(file(moments.files[1]), std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(at + 1);
    io.put('\x7f');
  }
  const CheckpointSlices owner = tensor_slices(local, 0, 2, &partition, 1),
                         other = tensor_slices(local, 0, 2, &partition, 0);
  for (const CheckpointSlices* slices : {static_cast<const CheckpointSlices*>(nullptr), &owner}) {
    try {
      read_checkpoint_file(file("model.h5"), &whole_infos, true, slices);
      ADD_FAILURE() << "a damaged moments file was read";
    } catch (const CheckpointCorrupt& e) {
      EXPECT_NE(std::string(e.what()).find(moments.files[1] + ": dataset '" + name +
                                           "': checksum mismatch"),
                std::string::npos)
          << e.what();
    }
  }
  // The other data rank's block does not reach that piece: it reads without that file.
  fs::remove(file(moments.files[1]));
  EXPECT_EQ(read_checkpoint_file(file("model.h5"), &whole_infos, true, &other).exp_avg,
            range(shard_state(whole, 0, 2).exp_avg, 0, 8));
}

TEST_F(CheckpointSlicesTest, DamagedOrMissingShardFileIsReportedByName) {
  write_tp2_checkpoint(dir_);
  const std::vector<ParamInfo> whole_infos = whole_model_infos(local_infos(), 2);
  const std::string name = "model/model.layers.0.mlp.down_proj.weight";
  int64_t at = 0;
  {
    const H5File shard(file(shard_file_name(1, 2)), H5File::Mode::read);
    at = shard.data_offset(name);
  }
  {
    std::fstream io(file(shard_file_name(1, 2)), std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(at + 2);
    char c = 0;
    io.read(&c, 1);
    io.seekp(at + 2);
    c = static_cast<char>(c ^ 0x40);
    io.write(&c, 1);
  }
  auto message = [&](const CheckpointSlices* slices) {
    try {
      read_checkpoint_file(file("model.h5"), &whole_infos, false, slices);
    } catch (const CheckpointCorrupt& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string expected =
      shard_file_name(1, 2) + ": dataset '" + name + "': checksum mismatch";
  EXPECT_NE(message(nullptr).find(expected), std::string::npos) << message(nullptr);
  const CheckpointSlices rank1 = tensor_slices(local_infos(), 1, 2);
  EXPECT_NE(message(&rank1).find(expected), std::string::npos) << message(&rank1);
  bool reported = false;
  for (const DatasetCheck& check : verify_checkpoint_file(file("model.h5")))
    if (!check.problem.empty()) {
      EXPECT_EQ(check.dataset, name);
      EXPECT_NE(check.problem.find(expected), std::string::npos) << check.problem;
      reported = true;
    }
  EXPECT_TRUE(reported);

  fs::remove(file(shard_file_name(1, 2)));
  EXPECT_NE(message(nullptr).find("which is missing"), std::string::npos) << message(nullptr);
}

}  // namespace
}  // namespace gatedlm
