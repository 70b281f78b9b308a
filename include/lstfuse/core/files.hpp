#pragma once
// Small text outputs (manifests, indexes, tables, reports) are written under a temporary name
// and renamed when complete, so a failure never leaves a half-written file.
#include <filesystem>
#include <string>

namespace lstfuse {

// Throws Error naming the file when it cannot be written.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace lstfuse
