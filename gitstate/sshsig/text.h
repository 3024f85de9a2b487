// Small text helpers shared by the parsers: whitespace trimming, safe quoting of untrusted strings for
// messages, and UTC timestamps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gitgate::sshsig {

// Without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trim_space(std::string_view text);
// `value` in double quotes, bytes outside printable ASCII as \xNN, cut after `max_bytes` with "...".
std::string printable_quoted(std::string_view value, size_t max_bytes = 64);
// "2023-11-14T22:13:20Z"
std::string format_utc(int64_t unix_time);
// Seconds since the epoch of a UTC civil time; the fields must already be in range.
int64_t utc_seconds(int year, int month, int day, int hour, int minute, int second);

}  // namespace gitgate::sshsig
