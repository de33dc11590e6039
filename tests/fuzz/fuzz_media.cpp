// Fuzz target: image and video inputs (conditions) as t2v reads them: libavformat/libavcodec
// decoding through io::read_video, hashing, frame-rate resampling (load_media) and fitting to an
// output size. The first byte picks the file extension (the image2 demuxer probes by it), the rest
// is the file. FFmpeg itself is not instrumented; the wrapper code around it is.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_common.h"
#include "t2v/pipeline/conditions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace t2v;
  if (size < 1) return 0;
  static const char* const kExt[] = {".png", ".jpg", ".webp", ".mp4", ".webm", ".mkv", ".mov", ".bin"};
  static const std::string dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/t2v_fuzz_media_" + std::to_string(::getpid()) + kExt[data[0] % 8];
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  fuzz::expect_ok_or_error([&] {
    // 24 fps -> 16 fps resampling whenever the stream says another rate. A 16 MiB decode budget:
    // the same checks as the library default of 16 GiB, without ASan mapping and page-faulting hundreds
    // of MB per input (its large allocations are fresh mmaps every time).
    auto m = pipeline::load_media(path, "image", {16, 1}, uint64_t(16) << 20);
    (void)pipeline::fit_frames(m.frames.slice(0, 0, 2), 24, 16, pipeline::Fit::Crop);
    (void)pipeline::fit_frames(m.frames.slice(0, 0, 1), 16, 24, pipeline::Fit::Pad);
  });
  std::filesystem::remove(path);
  return 0;
}
