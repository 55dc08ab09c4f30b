// `gatedlm tokenizer train`: SentencePiece BPE and unigram models that load and round-trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gatedlm/core/error.h"
#include "gatedlm/data/tokenizer_files.h"
#include "gatedlm/data/tokenizer_training.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

class TokenizerTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gatedlm_spm_train_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream corpus(dir_ / "corpus.txt");
    const char* lines[] = {"the quick brown fox jumps over the lazy dog",
                           "a stitch in time saves nine",
                           "all that glitters is not gold",
                           "the early bird catches the worm",
                           "brevity is the soul of wit",
                           "where there is smoke there is fire",
                           "fortune favours the bold"};
    for (int i = 0; i < 700; ++i) corpus << lines[i % 7] << ", said speaker " << i << ".\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  TokenizerTrainOptions options(const std::string& type) const {
    TokenizerTrainOptions o;
    o.type = type;
    o.vocab_size = 400;
    o.inputs = {(dir_ / "corpus.txt").string()};
    o.out = (dir_ / (type + ".model")).string();
    return o;
  }

  fs::path dir_;
};

TEST_F(TokenizerTrainingTest, TrainsBpeAndUnigramModelsThatRoundTrip) {
  for (const std::string type : {"bpe", "unigram"}) {
    const TokenizerTrainOptions o = options(type);
    train_sentencepiece(o);
    ASSERT_TRUE(fs::exists(o.out)) << type;
    const auto tokenizer = load_tokenizer(o.out);
    EXPECT_LE(tokenizer->vocab_size(), 400) << type;
    EXPECT_GT(tokenizer->vocab_size(), 259) << type;  // 3 specials + 256 byte pieces + merges
    EXPECT_EQ(tokenizer->eos_id(), 2) << type;
    // Words it saw compress; text it never saw (accents, CJK) falls back to bytes.
    const std::string seen = "the quick brown fox said speaker 12.";
    EXPECT_LT(tokenizer->encode(seen).size(), seen.size()) << type;
    EXPECT_EQ(tokenizer->encode("the").size(), 1u) << type << ": a frequent word is one piece";
    for (const std::string text : {seen, std::string("naïve café, 日本語 and emoji 🙂")}) {
      EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), text) << type;
    }
  }
}

TEST_F(TokenizerTrainingTest, BadOptionsAreInputErrors) {
  auto message = [](const TokenizerTrainOptions& o) {
    try {
      train_sentencepiece(o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  TokenizerTrainOptions o = options("bpe");
  o.out = (dir_ / "m.bin").string();
  EXPECT_EQ(message(o), "--out " + o.out + ": expected a path ending in .model");
  o = options("bpe");
  o.inputs.push_back((dir_ / "absent.txt").string());
  EXPECT_EQ(message(o), (dir_ / "absent.txt").string() + ": expected a readable text file");
  o = options("wordpiece");
  EXPECT_EQ(message(o), "--type: expected bpe or unigram, found 'wordpiece'");
}

// The default (nmt_nfkc) turns newlines into spaces and collapses runs of spaces; identity
// normalisation without whitespace removal keeps the text as it is (newlines through byte
// fallback), and without byte fallback an unseen character is <unk>.
TEST_F(TokenizerTrainingTest, NormalisationAndByteFallbackAreOptions) {
  const std::string text = "the fox\n\nsaid  speaker 7.\n";
  TokenizerTrainOptions standard = options("bpe");
  train_sentencepiece(standard);
  const auto nfkc = load_tokenizer(standard.out);
  EXPECT_NE(nfkc->decode(nfkc->encode(text)), text);

  TokenizerTrainOptions keep = options("bpe");
  keep.out = (dir_ / "identity.model").string();
  keep.normalization = "identity";
  keep.remove_extra_whitespaces = false;
  train_sentencepiece(keep);
  const auto identity = load_tokenizer(keep.out);
  EXPECT_EQ(identity->decode(identity->encode(text)), text);

  TokenizerTrainOptions no_bytes = options("bpe");
  no_bytes.out = (dir_ / "nobytes.model").string();
  no_bytes.byte_fallback = false;
  train_sentencepiece(no_bytes);
  const auto unk = load_tokenizer(no_bytes.out);
  const std::vector<int32_t> ids = unk->encode("\xe6\xbc\xa2");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 0), ids.end())
      << "an unseen CJK character is <unk> (id 0) without byte fallback";

  TokenizerTrainOptions bad = options("bpe");
  bad.normalization = "nfd";
  EXPECT_THROW(train_sentencepiece(bad), InputError);
}

}  // namespace
}  // namespace gatedlm
