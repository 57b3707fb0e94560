// Reading user-supplied dataset files (JSON Lines, JSON) for the loader tasks: every error names the
// file, the 1-based line and the problem, so the CLI prints one "error:" line and exits 2.
// Exercised by tests/test_tasks_more.cpp (TaskLoaders*).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace kvb::datasets {

// One parsed JSON Lines row and where it came from.
struct Row {
  nlohmann::json value;
  int line = 0;  // 1-based line number in the file
};

// Every non-blank line of `path` parsed as a JSON object (a UTF-8 BOM and CRLF endings are
// accepted). Throws kvb::Error "PATH:LINE: ..." for a malformed line or a line that is not an
// object, and "PATH: ..." when the file cannot be read or holds no rows.
std::vector<Row> read_jsonl(const std::string& path);

// The whole file as one JSON value; a parse error names the line it occurred on.
nlohmann::json read_json(const std::string& path);

// Field access for a row: errors read "PATH:LINE: field 'name' ..." (missing, wrong type).
std::string row_string(const Row& row, const std::string& path, const std::string& field);
// A string or a list of strings (answers / outputs); numbers are written as text.
std::vector<std::string> row_strings(const Row& row, const std::string& path, const std::string& field);
bool row_has(const Row& row, const std::string& field);
int row_int(const Row& row, const std::string& path, const std::string& field);

}  // namespace kvb::datasets
