// Byte quantities: parsing "64MiB" / "32GB" and printing with the unit named.
// GB = 10^9 bytes, GiB = 2^30 bytes (docs/DESIGN.md §6). Also lists for messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace meshlm {

// Accepts a plain byte count or a number with B, KB, MB, GB, TB (powers of 10)
// or KiB, MiB, GiB, TiB (powers of 2), case-insensitive, optional space.
uint64_t parse_bytes(const std::string& text);

// "1.50 GiB" (binary units) or "1.61 GB" (decimal units).
std::string format_bytes(double bytes, bool binary = true);

// "12.3 ms", "4.56 s", "789 us".
std::string format_seconds(double seconds);

// "1,234,567" (thousands separators, for exact counts).
std::string format_count(uint64_t n);

// {"dp", "mp"}, ", " -> "dp, mp"; {} -> "".
std::string join(const std::vector<std::string>& items, const std::string& separator);

// "a,,b" -> {"a", "", "b"}; "" -> {""} (the inverse of join).
std::vector<std::string> split(const std::string& text, char separator = ',');

}  // namespace meshlm
