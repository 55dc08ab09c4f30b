// The peak MFU is taken against (train/hardware_peak.h): the GPU table, the configured value,
// and the CPU cache that keeps the best sgemm rate seen, so a busy start-up cannot lower it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "gatedlm/train/hardware_peak.h"
#include "temp_dir_test.h"

namespace gatedlm {
namespace {

class HardwarePeakTest : public TempDirTest {
 protected:
  HardwarePeakTest() : TempDirTest("gatedlm_peak_") {}
};

TEST(HardwarePeak, GpuTableByNameAndPrecision) {
  EXPECT_EQ(gpu_peak_tflops("NVIDIA H200", Precision::fp32), 67.0);
  EXPECT_EQ(gpu_peak_tflops("NVIDIA H100 80GB HBM3", Precision::bf16), 989.0);
  EXPECT_EQ(gpu_peak_tflops("NVIDIA H100 PCIe", Precision::bf16), 756.0);  // before "H100"
  EXPECT_EQ(gpu_peak_tflops("NVIDIA A100-SXM4-80GB", Precision::fp32), 19.5);
  EXPECT_FALSE(gpu_peak_tflops("Some Future GPU", Precision::fp32).has_value());
}

TEST(HardwarePeak, ConfiguredPeakWinsAndUnknownGpuHasNone) {
  const HardwarePeak configured = hardware_peak(5.0, false, "NVIDIA H200", Precision::fp32, 1, 0);
  EXPECT_EQ(configured.tflops, 5.0);
  EXPECT_EQ(configured.source, "train.peak_tflops");
  const HardwarePeak unknown = hardware_peak(0.0, false, "Mystery", Precision::fp32, 1, 1e4);
  EXPECT_EQ(unknown.tflops, 0.0);
  EXPECT_NE(unknown.source.find("set train.peak_tflops"), std::string::npos);
  EXPECT_EQ(mfu(1e12, unknown), 0.0);
  EXPECT_DOUBLE_EQ(mfu(1e12, configured), 0.2);
}

TEST_F(HardwarePeakTest, CpuCacheKeepsTheBestRateSeen) {
  const std::string cache = dir_.string();
  // First measurement: cached. A slower one later (a busy machine) does not lower the peak.
  EXPECT_DOUBLE_EQ(cpu_peak(cache, "Test CPU", 2, 100.0).tflops, 0.1);
  const HardwarePeak busy = cpu_peak(cache, "Test CPU", 2, 40.0);
  EXPECT_DOUBLE_EQ(busy.tflops, 0.1);
  EXPECT_NE(busy.source.find("Test CPU | 2 threads"), std::string::npos);
  // A faster one raises it; another thread count is its own entry.
  EXPECT_DOUBLE_EQ(cpu_peak(cache, "Test CPU", 2, 150.0).tflops, 0.15);
  EXPECT_DOUBLE_EQ(cpu_peak(cache, "Test CPU", 1, 60.0).tflops, 0.06);
  std::ifstream in(dir_ / "cpu_peak.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("Test CPU | 2 threads").get<double>(), 150.0);
  EXPECT_EQ(j.at("Test CPU | 1 threads").get<double>(), 60.0);
}

TEST_F(HardwarePeakTest, DamagedCacheIsMeasuredAfresh) {
  std::ofstream(dir_ / "cpu_peak.json") << "{not json";
  EXPECT_DOUBLE_EQ(cpu_peak(dir_.string(), "Test CPU", 1, 80.0).tflops, 0.08);
  std::ifstream in(dir_ / "cpu_peak.json");
  EXPECT_EQ(nlohmann::json::parse(in).at("Test CPU | 1 threads").get<double>(), 80.0);
}

// A FIFO where the cache should be would block a plain read: it is not read, and the rate
// measured now stands (and replaces it).
TEST_F(HardwarePeakTest, NonRegularCacheIsNotRead) {
  ASSERT_EQ(::mkfifo((dir_ / "cpu_peak.json").c_str(), 0600), 0);
  EXPECT_DOUBLE_EQ(cpu_peak(dir_.string(), "Test CPU", 1, 70.0).tflops, 0.07);
}

}  // namespace
}  // namespace gatedlm
