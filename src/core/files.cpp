#include "lstfuse/core/files.hpp"

#include <fstream>

#include "lstfuse/core/error.hpp"

namespace lstfuse {

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".part";
  {
    std::ofstream out(tmp);
    if (!out) throw file_error(tmp.string(), "cannot write");
    out << text;
    out.flush();
    if (!out) throw file_error(tmp.string(), "write failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace lstfuse
