# Writes a C++ source holding files as (path, content) pairs, so the binary carries them.
# cmake -DOUTPUT=out.cpp -DBASE=dir -DFILES="a|b" -DFUNCTION=name -P embed_files.cmake
set(content "// Generated from ${BASE} by cmake/embed_files.cmake; do not edit.\n#include \"cli/embedded.h\"\n\n")
string(APPEND content "namespace gitgate::cli {\n\nconst std::vector<EmbeddedFile>& ${FUNCTION}() {\n")
string(APPEND content "  static const std::vector<EmbeddedFile> files = {\n")
string(REPLACE "|" ";" FILES "${FILES}")
foreach(f IN LISTS FILES)
  file(READ "${BASE}/${f}" data)
  string(APPEND content "      {\"${f}\", R\"gitgate_embedded(${data})gitgate_embedded\"},\n")
endforeach()
string(APPEND content "  };\n  return files;\n}\n\n}  // namespace gitgate::cli\n")
file(WRITE "${OUTPUT}.tmp" "${content}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
