// Deterministic text sources for the synthetic tasks: noise sentences and a procedural essay (RULER's
// "noise" and "essay" haystacks, our own wording), a user's *.txt directory, word lists, names, UUIDs.
// Exercised by tests/test_tasks.cpp (TaskDatasets*) and tests/test_tasks_more.cpp (TaskCorpus*).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.h"

namespace kvb::datasets {

// The fixed plain sentences the noise haystack repeats, in order (each ends with '.').
const std::vector<std::string>& noise_sentences();

// Units (sentences with their trailing separator) produced on demand, in order, and cached:
// unit(i) calls the generator for every unit up to i the first time. A returned reference stays valid
// while the stream lives (later units are appended to a deque, which never moves the earlier ones;
// a vector did, and `unit(0) == unit(5)` read freed memory: found by the AddressSanitizer suite).
class UnitStream {
 public:
  using Generator = std::function<std::string(size_t index)>;
  explicit UnitStream(Generator gen) : gen_(std::move(gen)) {}
  const std::string& unit(size_t i);

 private:
  Generator gen_;
  std::deque<std::string> units_;
};

// Noise haystack: noise_sentences() repeated; each unit ends with " ".
UnitStream noise_stream();
// Essay haystack: English-like sentences from templates and word lists, grouped into paragraphs of
// 3..7 sentences; a unit ends with " " or, at a paragraph end, "\n\n". Deterministic in `seed`.
UnitStream essay_stream(uint64_t seed);
// True when `word` (lowercase) occurs in the essay or noise vocabulary (values must avoid them).
bool is_haystack_word(std::string_view word);

// Corpus haystack from a user's directory (--haystack-dir): every regular file named *.txt under
// `dir` (recursively), sorted by path, read in that order; blank lines separate paragraphs,
// whitespace runs become one space, and sentences end at '.', '!' or '?' (with any closing quotes
// or brackets) before a space or the paragraph's end. Loaded once per directory and cached.
// Throws kvb::Error naming the directory when it is missing or yields no sentence.
struct Corpus {
  std::string dir;
  std::vector<std::string> units;  // sentences; each ends with " " or, at a paragraph end, "\n\n"
  std::vector<std::string> files;  // the files read, in order
};
const Corpus& load_corpus(const std::string& dir);
// The corpus units from the first, repeated from the start when more are asked for.
UnitStream corpus_stream(const std::string& dir);
// True when `word` (lowercase a-z) occurs as a word in the corpus (values must avoid them).
bool corpus_has_word(const std::string& dir, std::string_view word);

// Word lists. "system": /usr/share/dict/words filtered to lowercase a-z words of 3..10 letters
// (empty when the file is absent); "generated": pronounceable words from a fixed seed;
// "auto": system when non-empty, else generated. Anything else throws kvb::Error.
const std::vector<std::string>& word_list(std::string_view source);
std::vector<std::string> generated_words(size_t count, uint64_t seed);

// Needle keys "adjective-noun" (RULER's key style) from our own lists.
std::string key_phrase(Rng& rng);
// A fictional person name: "Ovrin Talmesk".
std::string entity_name(Rng& rng);
// A pronounceable made-up word of `syllables` syllables (lowercase), e.g. for place names.
std::string pseudo_word(Rng& rng, int syllables);
// A fictional place name: "Drelmouth" (capitalized pseudo-word, sometimes with a place suffix).
std::string place_name(Rng& rng);
// A random version-4 UUID string (8-4-4-4-12 lowercase hex).
std::string uuid4(Rng& rng);
// A 7-digit number in [1000000, 9999999] as text.
std::string seven_digit_number(Rng& rng);

}  // namespace kvb::datasets
