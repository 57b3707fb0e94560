// Fact documents about fictional entities: short profiles of made-up people (the offline corpus of
// the synthetic qa task) and key facts about a made-up organization (the summarization report).
// All wording is kvbench's own; exercised by tests/test_tasks_more.cpp (TaskQa*, TaskSummarization*).
#pragma once
#include <string>
#include <vector>

#include "core/random.h"

namespace kvb::datasets {

// One fact of a person's profile with the question that asks for it.
struct ProfileFact {
  std::string attribute;  // "hometown", "profession", ...
  std::string sentence;   // as written in the document
  std::string question;
  std::string answer;
};

// A fictional person's profile: 6 facts in a random order, one or two plain linking sentences.
struct Profile {
  std::string name;
  std::vector<ProfileFact> facts;
  std::string document;  // "Name\n" followed by one paragraph
};
Profile make_profile(Rng& rng, const std::string& name);

// A key fact of an organization report: a sentence for the report, a shorter one for the reference
// summary, and the key string (a name, place or number) a summary must contain to count the fact.
struct ReportFact {
  std::string kind;
  std::string report_sentence;
  std::string summary_sentence;
  std::string key;
};

struct Organization {
  std::string name;              // "the Velmor Lantern Guild"
  std::string kind;              // "lantern guild"
  std::vector<ReportFact> facts;  // every fact kind, in chronological order
};
// All kReportFactKinds facts of a fictional organization; the caller picks a subset.
Organization make_organization(Rng& rng);
inline constexpr int kReportFactKinds = 12;

}  // namespace kvb::datasets
