#include "lstfuse/deep/archive.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <caffe2/serialize/versions.h>
#include <fmt/format.h>
#include <zlib.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::deep {
namespace {

uint32_t crc_of(const char* data, uint64_t size) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<uint64_t>(size, 1u << 30));
    c = crc32(c, reinterpret_cast<const Bytef*>(data), n);
    data += n;
    size -= n;
  }
  return static_cast<uint32_t>(c);
}

// A deflated record (torch compresses the TorchScript code records) inflated to its stated size;
// false when the stream is broken or its size differs.
bool inflate_record(const char* data, uint64_t size, uint64_t expected, std::string& out) {
  // Deflate cannot expand more than about 1032 times: a larger stated size is a damaged header.
  if (expected / 1032 > size + 1) return false;
  out.assign(expected, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(expected);
  const int rc = inflate(&zs, Z_FINISH);
  const bool ok = rc == Z_STREAM_END && zs.total_out == expected;
  inflateEnd(&zs);
  return ok;
}

// Little-endian reads with bounds checks; every offset comes from the file.
struct Reader {
  const std::string& b;
  const std::string& name;
  const std::string& what;
  [[noreturn]] void damaged(const std::string& why) const {
    throw file_error(name, fmt::format("damaged {}: {}", what, why));
  }
  uint64_t u(uint64_t at, int n) const {
    if (at > b.size() || static_cast<uint64_t>(n) > b.size() - at) damaged("the archive is truncated");
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<uint64_t>(i)]);
    return v;
  }
};

}  // namespace

void check_archive(const std::string& bytes, const std::string& name, const std::string& what) {
  const Reader r{bytes, name, what};
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes at the end.
  if (bytes.size() < 22) r.damaged("too short for an archive");
  uint64_t eocd = bytes.size() - 22;
  const uint64_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  while (r.u(eocd, 4) != 0x06054b50u) {
    if (eocd == lowest) r.damaged("no archive directory at its end");
    --eocd;
  }
  uint64_t entries = r.u(eocd + 10, 2);
  uint64_t dir = r.u(eocd + 16, 4);
  if (entries == 0xFFFFu || dir == 0xFFFFFFFFu) {  // zip64: the real values are in its own record
    if (eocd < 20 || r.u(eocd - 20, 4) != 0x07064b50u) r.damaged("broken zip64 directory locator");
    const uint64_t z = r.u(eocd - 12, 8);
    if (r.u(z, 4) != 0x06064b50u) r.damaged("broken zip64 directory");
    entries = r.u(z + 32, 8);
    dir = r.u(z + 48, 8);
  }
  if (entries == 0) r.damaged("the archive holds no records");
  std::string folder;         // the folder of the first record, where torch looks up the others
  std::string version;        // the content of FOLDER/version (or FOLDER/.data/version)
  bool has_version = false;
  uint64_t at = dir;
  for (uint64_t e = 0; e < entries; ++e) {
    if (r.u(at, 4) != 0x02014b50u) r.damaged(fmt::format("directory entry {} is broken", e + 1));
    const uint64_t method = r.u(at + 10, 2);
    const uint64_t crc = r.u(at + 16, 4);
    uint64_t size = r.u(at + 20, 4);
    const uint64_t name_len = r.u(at + 28, 2), extra_len = r.u(at + 30, 2), comment_len = r.u(at + 32, 2);
    uint64_t local = r.u(at + 42, 4);
    if (at + 46 + name_len > bytes.size()) r.damaged("the archive is truncated");
    const std::string record = bytes.substr(at + 46, name_len);
    if (e == 0) {
      const auto slash = record.find('/');
      if (slash == std::string::npos) r.damaged(fmt::format("record '{}' is not in the archive's folder", record));
      folder = record.substr(0, slash + 1);
    }
    const bool is_version = record == folder + "version" || record == folder + ".data/version";
    // zip64 extra field (id 1): the 64-bit sizes and offset that did not fit, in this order.
    const uint64_t uncompressed = r.u(at + 24, 4);
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = r.u(x, 2), len = r.u(x + 2, 2);
      if (id == 1) {
        uint64_t p = x + 4;
        if (uncompressed == 0xFFFFFFFFu) p += 8;
        if (size == 0xFFFFFFFFu) size = r.u(p, 8), p += 8;
        if (local == 0xFFFFFFFFu) local = r.u(p, 8);
      }
      x += 4 + len;
    }
    if (method != 0 && method != 8) r.damaged(fmt::format("record '{}' has an unknown compression", record));
    // zlib takes 32-bit lengths; torch compresses only its small code records.
    if (size > 0xFFFFFFFFu || (method == 8 && uncompressed > (uint64_t{1} << 30)))
      r.damaged(fmt::format("record '{}' is larger than a model file can be", record));
    if (r.u(local, 4) != 0x04034b50u) r.damaged(fmt::format("record '{}' has a broken header", record));
    const uint64_t data = local + 30 + r.u(local + 26, 2) + r.u(local + 28, 2);
    if (data > bytes.size() || size > bytes.size() - data)
      r.damaged(fmt::format("record '{}' reaches past the end of the file", record));
    uint32_t actual = 0;
    if (method == 0) {
      actual = crc_of(bytes.data() + data, size);
      if (is_version) version.assign(bytes, data, std::min<uint64_t>(size, 64));
    } else {
      std::string inflated;
      if (!inflate_record(bytes.data() + data, size, uncompressed, inflated))
        r.damaged(fmt::format("record '{}' does not inflate to its stated size", record));
      actual = crc_of(inflated.data(), inflated.size());
      if (is_version) version = inflated.substr(0, 64);
    }
    has_version = has_version || is_version;
    if (actual != crc) r.damaged(fmt::format("record '{}' does not match its checksum", record));
    at += 46 + name_len + extra_len + comment_len;
  }
  // What torch's reader requires first, checked here because it leaks its reader's state (8 kB)
  // when it throws there: a version record beside the first record, holding a serialisation
  // version this torch reads (found by fuzz_model_file: a renamed first record).
  if (!has_version) r.damaged(fmt::format("no '{}version' record", folder));
  // Read as torch does (std::stoull): leading blanks, then digits; "3\n" is what torch writes.
  const size_t first = std::min(version.find_first_not_of(" \t\n\r"), version.size());
  const size_t last = std::min(version.find_first_not_of("0123456789", first), version.size());
  const std::string number = version.substr(first, last - first);
  uint64_t v = 0;
  for (const char c : number) v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(c - '0'), 1000000);
  if (number.empty() || v < caffe2::serialize::kMinSupportedFileFormatVersion ||
      v > caffe2::serialize::kMaxSupportedFileFormatVersion) {
    r.damaged(fmt::format("its serialisation version ({}) is not one this LibTorch reads ({} to {})",
                          number.empty() ? "not a number" : number.substr(0, 12),
                          caffe2::serialize::kMinSupportedFileFormatVersion,
                          caffe2::serialize::kMaxSupportedFileFormatVersion));
  }
}

std::string read_checked_archive(const std::string& path, const std::string& what) {
  // Read whole into memory: a device (/dev/zero) or a pipe would never end, and a huge file
  // would exhaust memory. The largest family's model is tens of MB.
  constexpr std::uintmax_t kMaxBytes = std::uintmax_t{2} << 30;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw file_error(path, fmt::format("is not a regular file; cannot read the {}", what));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw file_error(path, fmt::format("cannot read the {}", what));
  if (size > kMaxBytes)
    throw file_error(path, fmt::format("is {:.1f} GiB, larger than any {} lstfuse writes (2 GiB)", size / 1073741824.0, what));
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  if (!in || !(bytes << in.rdbuf())) throw file_error(path, fmt::format("cannot read the {}", what));
  std::string b = bytes.str();
  check_archive(b, path, what);
  return b;
}

}  // namespace lstfuse::deep
