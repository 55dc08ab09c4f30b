// Checkpoint manager: model.h5 layout and checksums, atomic directories, retention, resume
// discovery, the async writer and the stop signals. End-to-end runs are in
// tests/integration/test_checkpoint_*.py.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gatedlm/checkpoint/checkpoint.h"
#include "gatedlm/checkpoint/checksum.h"
#include "gatedlm/checkpoint/resume.h"
#include "gatedlm/checkpoint/retention.h"
#include "gatedlm/checkpoint/writer.h"
#include "gatedlm/core/build_info.h"
#include "gatedlm/core/error.h"
#include "gatedlm/train/signals.h"
#include "temp_dir_test.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public TempDirTest {
 protected:
  CheckpointTest() : TempDirTest("gatedlm_ckpt_") {}

  // Two small tensors with distinct values, moments, loaders and an RNG stream.
  static CheckpointState make_state(int64_t step, float base = 0.0f) {
    CheckpointState s;
    s.step = step;
    s.tokens_seen = step * 128;
    s.elapsed_s = 1.5 * step;
    s.tensors = {{"model.embed_tokens.weight", {4, 3}, 0}, {"model.norm.weight", {3}, 12}};
    for (int i = 0; i < 15; ++i) {
      s.params.push_back(base + 0.25f * i - 1.0f);
      s.exp_avg.push_back(1e-3f * i);
      s.exp_avg_sq.push_back(1e-6f * i * i);
    }
    s.optimizer_step = step;
    s.schedule_total_steps = 100;
    s.last_lr = 3e-3;
    s.seed = 7;
    LoaderState train;
    train.rng = {1, 2, 3, 4};
    train.batches_served = step;
    LoaderState val;
    val.cursor = 5;
    s.loaders = {{"train", train}, {"val", val}};
    s.rng_streams = {{"dropout", {9, 8, 7, 6}}};
    s.config_yaml = "model:\n  hidden_size: 3\n";
    return s;
  }

  static std::vector<ParamInfo> infos_of(const CheckpointState& s) {
    std::vector<ParamInfo> infos;
    for (const TensorSlot& t : s.tensors) {
      ParamInfo p;
      p.name = t.name;
      p.shape = t.shape;
      p.offset = t.offset;
      infos.push_back(p);
    }
    return infos;
  }

  static void flip_byte(const fs::path& file, int64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(offset);
    f.write(&c, 1);
  }
};

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointChecksum, IsXxh3OfTheBytes) {
  EXPECT_EQ(xxh3_64("", 0), 0x2D06800538D394C2ULL);  // the published XXH3_64bits("") value
  const std::string a = "gatedlm", b = "gatedlM";
  EXPECT_NE(checksum_hex(a.data(), a.size()), checksum_hex(b.data(), b.size()));
  EXPECT_EQ(checksum_hex(a.data(), a.size()).size(), 16u);
}

TEST_F(CheckpointTest, FileRoundTripsEveryPart) {
  const CheckpointState in = make_state(42);
  write_checkpoint_file(file("model.h5"), in);
  const std::vector<ParamInfo> infos = infos_of(in);
  const CheckpointState out = read_checkpoint_file(file("model.h5"), &infos);
  EXPECT_EQ(out.step, 42);
  EXPECT_EQ(out.tokens_seen, in.tokens_seen);
  EXPECT_EQ(out.elapsed_s, in.elapsed_s);
  EXPECT_EQ(out.params, in.params);
  EXPECT_EQ(out.exp_avg, in.exp_avg);
  EXPECT_EQ(out.exp_avg_sq, in.exp_avg_sq);
  EXPECT_EQ(out.optimizer_step, 42);
  EXPECT_EQ(out.schedule_total_steps, 100);
  EXPECT_EQ(out.last_lr, 3e-3);
  EXPECT_EQ(out.seed, 7u);
  ASSERT_NE(out.loader("train"), nullptr);
  EXPECT_EQ(out.loader("train")->rng, in.loader("train")->rng);
  EXPECT_EQ(out.loader("train")->batches_served, 42);
  EXPECT_EQ(out.loader("val")->cursor, 5);
  ASSERT_EQ(out.rng_streams.size(), 1u);
  EXPECT_EQ(out.rng_streams[0].first, "dropout");
  EXPECT_EQ(out.rng_streams[0].second[3], 6u);
  EXPECT_EQ(out.config_yaml, in.config_yaml);
  EXPECT_EQ(out.gatedlm_version, gatedlm_version());
  EXPECT_EQ(read_checkpoint_config(file("model.h5")), in.config_yaml);

  // Every dataset carries a checksum, and verification passes.
  H5File h5(file("model.h5"), H5File::Mode::read);
  for (const H5DatasetInfo& d : h5.datasets())
    EXPECT_TRUE(h5.has_attribute(d.name, kChecksumAttribute)) << d.name;
  for (const DatasetCheck& c : verify_checkpoint_file(file("model.h5")))
    EXPECT_EQ(c.problem, "") << c.dataset;
}

// Found by fuzz_checkpoint: an empty tensor read back memcpy'd from a null pointer (UBSan).
TEST_F(CheckpointTest, EmptyTensorRoundTrips) {
  CheckpointState in = make_state(3);
  in.tensors.push_back({"model.layers.0.empty", {0, 3}, 15});
  write_checkpoint_file(file("model.h5"), in);
  const std::vector<ParamInfo> infos = infos_of(in);
  const CheckpointState out = read_checkpoint_file(file("model.h5"), &infos);
  EXPECT_EQ(out.params, in.params);
  EXPECT_EQ(out.tensors.back().shape, (Shape{0, 3}));
}

TEST_F(CheckpointTest, FlippedDataByteIsCorruptionNamingFileAndDataset) {
  write_checkpoint_file(file("model.h5"), make_state(3));
  int64_t offset = -1;
  {
    H5File h5(file("model.h5"), H5File::Mode::read);
    offset = h5.data_offset("model/model.norm.weight");
  }
  ASSERT_GT(offset, 0);
  flip_byte(file("model.h5"), offset + 5);
  const CheckpointState ref = make_state(3);
  const std::vector<ParamInfo> infos = infos_of(ref);
  const std::string message =
      error_of<CheckpointCorrupt>([&] { read_checkpoint_file(file("model.h5"), &infos); });
  EXPECT_NE(message.find(file("model.h5")), std::string::npos) << message;
  EXPECT_NE(message.find("model/model.norm.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;

  int failures = 0;
  for (const DatasetCheck& c : verify_checkpoint_file(file("model.h5"))) {
    if (c.problem.empty()) continue;
    ++failures;
    EXPECT_EQ(c.dataset, "model/model.norm.weight");
  }
  EXPECT_EQ(failures, 1);
}

// A fuzz finding: damage could hide a whole entry (here the val loader) while every checksum
// that remains still held. Each group's recorded link count makes that corruption.
TEST_F(CheckpointTest, HiddenEntryIsCorruptionNamingTheGroup) {
  write_checkpoint_file(file("model.h5"), make_state(3));
  {
    const hid_t raw = H5Fopen(file("model.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(raw, 0);
    ASSERT_GE(H5Ldelete(raw, "data/val", H5P_DEFAULT), 0);
    H5Fclose(raw);
  }
  const std::string message =
      error_of<CheckpointCorrupt>([&] { read_checkpoint_file(file("model.h5"), nullptr); });
  EXPECT_NE(message.find(file("model.h5")), std::string::npos) << message;
  EXPECT_NE(message.find("group 'data' lists 1 entries but recorded 2"), std::string::npos)
      << message;
  bool reported = false;
  for (const DatasetCheck& c : verify_checkpoint_file(file("model.h5")))
    reported |= c.problem.find("group 'data'") != std::string::npos;
  EXPECT_TRUE(reported);
}

TEST_F(CheckpointTest, TruncatedFileIsCorruptionNamingTheFile) {
  write_checkpoint_file(file("model.h5"), make_state(3));
  fs::resize_file(file("model.h5"), fs::file_size(file("model.h5")) / 2);
  const std::string message =
      error_of<CheckpointCorrupt>([&] { read_checkpoint_file(file("model.h5"), nullptr); });
  EXPECT_NE(message.find(file("model.h5")), std::string::npos) << message;
  const std::vector<DatasetCheck> checks = verify_checkpoint_file(file("model.h5"));
  ASSERT_FALSE(checks.empty());
  EXPECT_NE(checks[0].problem, "");
}

TEST_F(CheckpointTest, ModelMismatchIsInputErrorNamingTheFirstTensor) {
  write_checkpoint_file(file("model.h5"), make_state(3));
  const CheckpointState ref = make_state(3);
  std::vector<ParamInfo> infos = infos_of(ref);
  infos[1].shape = {4};
  auto read = [&] { read_checkpoint_file(file("model.h5"), &infos); };
  std::string message = error_of<InputError>([&] {
    try {
      read();
    } catch (const CheckpointCorrupt&) {
      ADD_FAILURE() << "a model mismatch is not damage (auto-resume must not fall back past it)";
    }
  });
  EXPECT_NE(message.find("'model.norm.weight' has shape [3] in the checkpoint but [4]"),
            std::string::npos)
      << message;

  infos = infos_of(ref);
  infos.push_back(infos[1]);
  infos.back().name = "lm_head.weight";
  message = error_of<InputError>(read);
  EXPECT_NE(message.find("'lm_head.weight' of the model is missing"), std::string::npos) << message;

  infos = infos_of(ref);
  infos.pop_back();
  message = error_of<InputError>(read);
  EXPECT_NE(message.find("checkpoint tensor 'model.norm.weight' is not in the model"),
            std::string::npos)
      << message;
}

TEST(CheckpointRetention, KeepsNewestMilestonesAndLatest) {
  const std::vector<int64_t> steps = {10, 20, 30, 40, 50, 60};
  EXPECT_EQ(checkpoints_to_delete(steps, {2, 0}, 60), (std::vector<int64_t>{40, 30, 20, 10}));
  EXPECT_EQ(checkpoints_to_delete(steps, {2, 20}, 60), (std::vector<int64_t>{30, 10}));
  // `latest` survives even when newer checkpoints exist (a run resumed from an older one).
  EXPECT_EQ(checkpoints_to_delete(steps, {1, 0}, 20), (std::vector<int64_t>{50, 40, 30, 10}));
  EXPECT_TRUE(checkpoints_to_delete({5}, {1, 0}, 5).empty());
}

TEST_F(CheckpointTest, CommitIsCompleteAndRetentionKeepsMilestones) {
  const std::string run = dir_.string();
  for (int64_t step : {2, 4, 6, 8, 10}) {
    commit_checkpoint(run, make_state(step));
    apply_retention(run, {2, 4});
  }
  std::vector<int64_t> kept;
  for (const CheckpointEntry& c : list_complete_checkpoints(run)) kept.push_back(c.step);
  EXPECT_EQ(kept, (std::vector<int64_t>{4, 8, 10}));
  EXPECT_EQ(fs::path(read_latest(run)).filename(), "step_00000010");
  EXPECT_EQ(fs::path(resolve_checkpoint(run)).filename(), "step_00000010");
  EXPECT_TRUE(fs::exists(fs::path(read_latest(run)) / "config.yaml"));
  for (const fs::directory_entry& e : fs::directory_iterator(checkpoints_root(run)))
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();  // no leftovers

  // A step directory without its marker is never used, and resolving it explicitly fails.
  fs::remove(fs::path(checkpoints_root(run)) / "step_00000004" / kCheckpointMarker);
  kept.clear();
  for (const CheckpointEntry& c : list_complete_checkpoints(run)) kept.push_back(c.step);
  EXPECT_EQ(kept, (std::vector<int64_t>{8, 10}));
  EXPECT_NE(error_of<InputError>([&] {
              resolve_checkpoint((fs::path(checkpoints_root(run)) / "step_00000004").string());
            }).find("incomplete"),
            std::string::npos);
}

TEST_F(CheckpointTest, CommitReplacesADirectoryOfTheSameStep) {
  const std::string run = dir_.string();
  commit_checkpoint(run, make_state(4, 0.0f));
  commit_checkpoint(run, make_state(4, 100.0f));
  const CheckpointState s =
      read_checkpoint_file((fs::path(read_latest(run)) / kCheckpointFile).string(), nullptr);
  EXPECT_EQ(s.params[0], 99.0f);
}

TEST_F(CheckpointTest, FailedWriteIsAClearErrorAndKeepsThePreviousCheckpoint) {
  const std::string run = dir_.string();
  commit_checkpoint(run, make_state(2));
  // Like `ulimit -f`: a file may not grow past 4 KiB; SIGXFSZ ignored so write() gets EFBIG.
  CheckpointState big = make_state(4);
  big.tensors.push_back({"model.big.weight", {64, 64}, 15});
  big.params.resize(15 + 64 * 64, 0.5f);
  big.exp_avg.resize(big.params.size());
  big.exp_avg_sq.resize(big.params.size());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string message = error_of<RuntimeFailure>([&] { commit_checkpoint(run, big); });
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_NE(message.find("step_00000004"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(fs::path(read_latest(run)).filename(), "step_00000002");
  for (const DatasetCheck& c :
       verify_checkpoint_file((fs::path(read_latest(run)) / kCheckpointFile).string()))
    EXPECT_EQ(c.problem, "") << c.dataset;
  EXPECT_FALSE(fs::exists(fs::path(checkpoints_root(run)) / ".tmp_step_00000004"));
  // With room again, the next save works (HDF5 is still usable after the failed file).
  commit_checkpoint(run, big);
  EXPECT_EQ(fs::path(read_latest(run)).filename(), "step_00000004");
  for (const DatasetCheck& c :
       verify_checkpoint_file((fs::path(read_latest(run)) / kCheckpointFile).string()))
    EXPECT_EQ(c.problem, "") << c.dataset;
}

TEST_F(CheckpointTest, AutoResumeFallsBackPastADamagedLatest) {
  const std::string run = dir_.string();
  const std::vector<ParamInfo> infos = infos_of(make_state(0));
  EXPECT_FALSE(find_resume_point(run, infos).has_value());  // nothing yet: a fresh start

  commit_checkpoint(run, make_state(2));
  commit_checkpoint(run, make_state(4));
  EXPECT_EQ(find_resume_point(run, infos)->state.step, 4);

  const fs::path latest_file = fs::path(read_latest(run)) / kCheckpointFile;
  fs::resize_file(latest_file, fs::file_size(latest_file) - 100);
  std::optional<ResumePoint> point = find_resume_point(run, infos);
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->state.step, 2);
  // Explicitly naming the damaged one is an error, not a fallback.
  EXPECT_NE(error_of<CheckpointCorrupt>([&] { load_resume_point(run, infos); }), "");

  // A changed model is not damage: it stops the search.
  std::vector<ParamInfo> other = infos;
  other[0].shape = {5, 3};
  EXPECT_NE(error_of<InputError>([&] {
              find_resume_point(run, other);
            }).find("'model.embed_tokens.weight' has shape"),
            std::string::npos);

  fs::resize_file(fs::path(checkpoints_root(run)) / "step_00000002" / kCheckpointFile, 1000);
  EXPECT_NE(
      error_of<InputError>([&] { find_resume_point(run, infos); }).find("no usable checkpoint"),
      std::string::npos);
}

TEST_F(CheckpointTest, AsyncWriterSavesInTheBackgroundAndReportsFailures) {
  const std::string run = dir_.string();
  {
    CheckpointWriter writer(run, {2, 0}, true);
    const std::string dir = writer.save(make_state(6));
    writer.wait();
    EXPECT_EQ(fs::path(dir).filename(), "step_00000006");
    EXPECT_EQ(fs::path(read_latest(run)).filename(), "step_00000006");
  }
  std::ofstream(dir_ / "not_a_dir") << "x";
  CheckpointWriter broken((dir_ / "not_a_dir" / "run").string(), {2, 0}, true);
  broken.save(make_state(8));
  EXPECT_NE(error_of<RuntimeFailure>([&] { broken.wait(); }).find("cannot"), std::string::npos);
  EXPECT_NO_THROW(broken.wait());  // reported once
}

TEST(CheckpointSignals, FirstStopSignalIsRecorded) {
  StopSignals signals;
  EXPECT_EQ(signals.received(), 0);
  std::raise(SIGUSR1);
  EXPECT_EQ(signals.received(), SIGUSR1);
  std::raise(SIGTERM);  // repeated stop requests do not abort and keep the first
  EXPECT_EQ(signals.received(), SIGUSR1);
  EXPECT_STREQ(StopSignals::name(SIGTERM), "SIGTERM");
}

}  // namespace
}  // namespace gatedlm
