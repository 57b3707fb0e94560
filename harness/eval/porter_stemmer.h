// Porter suffix-stripping stemmer (Porter 1980, "An algorithm for suffix stripping"), in the
// NLTK_EXTENSIONS mode that nltk.stem.porter.PorterStemmer() uses by default and rouge-score uses.
// Exercised by tests/test_rouge.cpp (RougePorterStemmer* tests and every stemmed ROUGE golden case).
#pragma once
#include <string>
#include <string_view>

namespace kvb {

// Stems one word exactly as nltk's PorterStemmer().stem(word) (nltk 3.x, mode NLTK_EXTENSIONS):
// ASCII letters are lowercased first; a word of at most 2 characters is returned as is; the NLTK
// irregular forms (skies -> sky, dying -> die, news -> news, ...) come from a fixed table; then
// steps 1a..5b run with NLTK's deviations (ies/ied on 4-letter words, y -> i only after a consonant
// that is not the whole stem, bli -> ble, alli/fulli/logi in step 2, a 2-letter "vc" counts as *o).
// Characters other than a-z are consonants (digits included); non-ASCII bytes are not lowercased.
std::string porter_stem(std::string_view word);

}  // namespace kvb
