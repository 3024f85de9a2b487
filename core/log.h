// Operational log: one JSON object per line on stderr (stdout belongs to the audit stream). Messages must
// never hold credentials or Secret values. Thread-safe; each line is written with a single write(2).
#pragma once

#include <string_view>

namespace gitgate::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
bool parse_level(std::string_view text, Level& out);
bool enabled(Level level);

void write(Level level, std::string_view message);
inline void debug(std::string_view m) { if (enabled(Level::Debug)) write(Level::Debug, m); }
inline void info(std::string_view m) { if (enabled(Level::Info)) write(Level::Info, m); }
inline void warn(std::string_view m) { if (enabled(Level::Warn)) write(Level::Warn, m); }
inline void error(std::string_view m) { write(Level::Error, m); }

}  // namespace gitgate::log
