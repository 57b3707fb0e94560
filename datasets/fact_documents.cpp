// Fictional people profiles and organization facts (see fact_documents.h). Names come from the
// pronounceable generators of text_sources.h; no text is taken from any dataset.
// Exercised by tests/test_tasks_more.cpp (TaskQa*, TaskSummarization*).
#include "datasets/fact_documents.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

#include "datasets/text_sources.h"

namespace kvb::datasets {
namespace {

const std::vector<std::string> kProfessions = {
    "glassblower", "cartographer", "beekeeper", "bookbinder", "clockmaker", "ferry pilot", "stonemason",
    "weaver", "locksmith", "tea merchant", "lighthouse keeper", "surveyor", "violin maker", "cheesemaker",
    "archivist", "boat builder", "tailor", "potter", "printer", "herbalist"};
const std::vector<std::string> kAnimals = {"parrot", "tortoise", "goat", "heron", "ferret", "donkey", "owl",
                                           "rabbit", "cat", "pony", "hedgehog", "crow"};
const std::vector<std::string> kInstruments = {"cello", "accordion", "harp", "flute", "oboe", "banjo",
                                               "trumpet", "mandolin", "bagpipes", "clarinet", "zither", "lute"};
const std::vector<std::string> kVentures = {"bakery", "bookshop", "printing house", "ferry service",
                                            "weaving workshop", "tea house", "boatyard", "music school"};
const std::vector<std::string> kCollections = {"maps", "clocks", "teapots", "coins", "lanterns", "keys",
                                               "postcards", "compasses"};
const std::vector<std::string> kLinks = {
    "Friends describe this as typical of a restless and practical mind.",
    "Few neighbors knew much more than that.",
    "Most of this is recorded in a small local almanac.",
    "The details were confirmed by several acquaintances.",
    "Little else about those years is known for certain."};

std::string cap(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 'a' + 'A');
  return s;
}
std::string title_word(Rng& rng) { return cap(pseudo_word(rng, int(rng.range(2, 3)))); }
std::string title_case(const std::string& s) {
  std::string out = s;
  for (size_t i = 0; i < out.size(); ++i)
    if ((i == 0 || out[i - 1] == ' ') && out[i] >= 'a' && out[i] <= 'z') out[i] = char(out[i] - 'a' + 'A');
  return out;
}

}  // namespace

Profile make_profile(Rng& rng, const std::string& name) {
  Profile p;
  p.name = name;
  const std::string first = name.substr(0, name.find(' '));
  const std::string town = place_name(rng);
  const std::string job = rng.pick(kProfessions);
  const std::string animal = rng.pick(kAnimals), pet = title_word(rng);
  const std::string venture = rng.pick(kVentures), business = title_word(rng) + " " + title_case(venture);
  const int year = int(rng.range(1890, 1990));
  const std::string instrument = rng.pick(kInstruments);
  const std::string sister = entity_name(rng);
  const std::string sister_first = sister.substr(0, sister.find(' '));
  const std::string item = rng.pick(kCollections);
  const std::string count = std::to_string(rng.range(120, 980));
  p.facts = {
      {"hometown", fmt::format("{} grew up in the town of {}.", name, town),
       fmt::format("In which town did {} grow up?", name), town},
      {"profession", fmt::format("For most of a working life, {} earned a living as a {}.", first, job),
       fmt::format("How did {} earn a living?", name), job},
      {"pet", fmt::format("{} keeps a {} named {}.", first, animal, pet),
       fmt::format("What is the name of the {} that {} keeps?", animal, name), pet},
      {"business", fmt::format("In {}, {} opened a {} called {}.", year, first, venture, business),
       fmt::format("What was the {} that {} opened called?", venture, name), business},
      {"instrument", fmt::format("On quiet evenings {} plays the {}.", first, instrument),
       fmt::format("Which instrument does {} play?", name), instrument},
      {"sister", fmt::format("{} has an older sister, {}.", first, sister_first),
       fmt::format("What is the first name of {}'s older sister?", name), sister_first},
      {"collection", fmt::format("Over the years {} has gathered {} old {}.", first, count, item),
       fmt::format("How many old {} has {} gathered?", item, name), count},
  };
  rng.shuffle(p.facts);
  p.facts.resize(6);
  std::string body;
  for (size_t i = 0; i < p.facts.size(); ++i) {
    if (i == 3 || (i == 5 && rng.below(2) == 0)) body += rng.pick(kLinks) + " ";
    body += p.facts[i].sentence + (i + 1 == p.facts.size() ? "" : " ");
  }
  p.document = name + "\n" + body;
  return p;
}

Organization make_organization(Rng& rng) {
  static const std::vector<std::string> kKinds = {"lantern guild", "river trust", "seed library",
                                                  "mapmakers' society", "glassworks", "choir association",
                                                  "observatory club", "rowing league"};
  static const std::vector<std::string> kProjects = {"Atlas", "Canal", "Archive", "Bridge", "Survey", "Almanac"};
  Organization o;
  o.kind = rng.pick(kKinds);
  const std::string base = title_word(rng);
  o.name = "the " + base + " " + title_case(o.kind);
  const std::string Name = cap(o.name);
  std::set<std::string> used;
  auto fresh = [&](auto gen) {
    std::string v;
    do v = gen(); while (!used.insert(v).second);
    return v;
  };
  const int y0 = int(rng.range(1850, 1930));
  const std::string town = fresh([&] { return place_name(rng); });
  const std::string founder = fresh([&] { return entity_name(rng); });
  const std::string members = std::to_string(rng.range(140, 4900));
  const int y1 = y0 + int(rng.range(12, 30));
  const std::string town2 = fresh([&] { return place_name(rng); });
  const std::string project = fresh([&] {
    // Named draws: the operands of `a + b` are evaluated in an unspecified order; gcc drew the project
    // kind first, and that order keeps the cases (and committed hashes) gcc builds have always made.
    const std::string kind = rng.pick(kProjects);
    return title_word(rng) + " " + kind;
  });
  const std::string budget = std::to_string(rng.range(12, 980) * 100);
  const std::string rival = fresh([&] { return title_word(rng) + " Company"; });
  const int y2 = y1 + int(rng.range(3, 15));
  const std::string award = fresh([&] { return title_word(rng) + " Medal"; });
  const std::string successor = fresh([&] { return entity_name(rng); });
  const int y3 = y2 + int(rng.range(2, 12));
  const std::string partner = fresh([&] { return title_word(rng) + " University"; });
  const std::string motto = key_phrase(rng);
  const std::string motto_text = motto.substr(0, motto.find('-')) + " " + motto.substr(motto.find('-') + 1);
  o.facts = {
      {"founding", fmt::format("{} was founded in {} in the town of {}, where its first meetings took place in a "
                               "rented room above a shop.", Name, y0, town),
       fmt::format("{} was founded in {} in {}.", Name, y0, town), town},
      {"founder", fmt::format("The person behind it was {}, who had argued for years that such a group was needed.",
                              founder),
       fmt::format("Its founder was {}.", founder), founder},
      {"members", fmt::format("Within its first decade the membership rolls listed {} names.", members),
       fmt::format("It grew to {} members.", members), members},
      {"move", fmt::format("In {} the headquarters moved to {}, following a dispute over rent.", y1, town2),
       fmt::format("In {} its headquarters moved to {}.", y1, town2), town2},
      {"project", fmt::format("Its best-known undertaking was the {}, which occupied volunteers for many seasons.",
                              project),
       fmt::format("Its best-known project was the {}.", project), project},
      {"budget", fmt::format("At its height the yearly budget came to {} crowns, most of it from small donations.",
                             budget),
       fmt::format("Its yearly budget reached {} crowns.", budget), budget},
      {"rival", fmt::format("For a long time it competed for members and money with the {}.", rival),
       fmt::format("Its main rival was the {}.", rival), rival},
      {"award", fmt::format("In {} the group was honored with the {} for its public work.", y2, award),
       fmt::format("In {} it received the {}.", y2, award), award},
      {"successor", fmt::format("When the founder stepped down, the leadership passed to {}.", successor),
       fmt::format("Leadership later passed to {}.", successor), successor},
      {"flood", fmt::format("A flood in {} ruined a large part of the archive, and many records were rewritten "
                            "from memory.", y3),
       fmt::format("A flood in {} damaged its archive.", y3), std::to_string(y3)},
      {"partner", fmt::format("Later on it began a long partnership with {}.", partner),
       fmt::format("It formed a partnership with {}.", partner), partner},
      {"motto", fmt::format("Its motto, \"{}\", is painted above the main door.", motto_text),
       fmt::format("Its motto is \"{}\".", motto_text), motto_text},
  };
  return o;
}

}  // namespace kvb::datasets
