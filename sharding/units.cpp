#include "sharding/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "sharding/error.h"

namespace meshlm {

uint64_t parse_bytes(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) MESHLM_FAIL("bad byte size '" << text << "' (expected e.g. 64MiB, 32GB or 1048576)");
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (ec != std::errc() || end != text.data() + i)
    MESHLM_FAIL("bad byte size '" << text << "' (expected e.g. 64MiB, 32GB or 1048576)");
  std::string unit = text.substr(i);
  unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  double mult = 0;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "kb" || unit == "k")
    mult = 1e3;
  else if (unit == "mb" || unit == "m")
    mult = 1e6;
  else if (unit == "gb" || unit == "g")
    mult = 1e9;
  else if (unit == "tb" || unit == "t")
    mult = 1e12;
  else if (unit == "kib")
    mult = 1024.0;
  else if (unit == "mib")
    mult = 1024.0 * 1024;
  else if (unit == "gib")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "tib")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    MESHLM_FAIL("bad unit '" << text.substr(i) << "' in byte size '" << text
                             << "' (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  // At most int64 bytes (checked arithmetic downstream, docs/DESIGN.md §9):
  // beyond it the value used to saturate silently.
  const double bytes = value * mult;
  if (!(bytes <= 9.2e18))
    MESHLM_FAIL("byte size '" << text << "' is " << format_bytes(bytes) << ", more than the "
                              << format_bytes(9.2e18) << " (2^63 bytes) supported");
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string format_bytes(double bytes, bool binary) {
  static const char* bin_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  static const char* dec_units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  const double base = binary ? 1024.0 : 1000.0;
  int u = 0;
  double v = bytes;
  while (std::fabs(v) >= base && u < 5) {
    v /= base;
    ++u;
  }
  char buf[64];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f B", v);
  else
    std::snprintf(buf, sizeof buf, "%.2f %s", v, binary ? bin_units[u] : dec_units[u]);
  return buf;
}

std::string format_seconds(double s) {
  char buf[64];
  if (s >= 1.0)
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  else if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  return buf;
}

std::string format_count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> items;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    items.push_back(text.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return items;
}

}  // namespace meshlm
