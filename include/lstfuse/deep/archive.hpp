#pragma once
// Integrity of torch archives (model files, checkpoints) before torch reads them. LibTorch's
// reader does not verify the CRC-32 of the records it extracts, and its TorchScript and pickle
// parsers crash (stack overflow, wild reads) on some damaged records. Every record of a file
// written through torch carries its CRC-32 (the TorchScript code records are deflated, the rest
// stored), so a damaged byte anywhere is found here first and reported as a damaged file. A file crafted to pass this check is still
// parsed by torch: a model file is trusted like a program.
#include <string>

namespace lstfuse::deep {

// Throws file_error(name, "damaged <what>: ...") unless `bytes` is a zip archive whose records
// are all stored or deflated, lie inside the bytes and match their CRC-32.
void check_archive(const std::string& bytes, const std::string& name, const std::string& what);

// Reads the whole file (file_error when it cannot be read) and checks it as above.
std::string read_checked_archive(const std::string& path, const std::string& what);

}  // namespace lstfuse::deep
