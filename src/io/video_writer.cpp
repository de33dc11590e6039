// FFmpeg-backed streaming writer. One encoder per file; RGB24 frames are converted to the
// codec's pixel format with swscale (BT.709 matrix, limited range, tagged in the stream).
#include "t2v/io/video_writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/crc.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "t2v/log.h"
#include <torch/torch.h>

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "t2v/error.h"
#include "t2v/io/atomic_file.h"

namespace t2v::io {
namespace fs = std::filesystem;

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

namespace {
Codec codec_for(const VideoWriterOptions& o) {
  std::string ext = o.path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".mp4" && ext != ".mkv" && ext != ".webm" && ext != ".png" && ext != ".mov") {
    throw UsageError("output " + o.path.string() + ": unsupported extension '" + ext +
                     "' (expected .mp4, .mkv, .webm or .png)");
  }
  if (ext == ".png") {
    if (o.codec != Codec::Auto && o.codec != Codec::PNG) throw UsageError("output " + o.path.string() + ": .png holds a single PNG image");
    return Codec::PNG;
  }
  if (ext == ".webm") {
    if (o.codec != Codec::Auto && o.codec != Codec::VP9) throw UsageError("output " + o.path.string() + ": .webm supports VP9 only");
    return Codec::VP9;
  }
  if (o.codec == Codec::PNG || o.codec == Codec::VP9) {
    throw UsageError("output " + o.path.string() + ": this codec needs a .png/.webm file name");
  }
  return o.codec == Codec::Auto ? Codec::H264 : o.codec;
}

// Appends a PNG tEXt chunk (keyword\0text) to `out`.
void append_text_chunk(std::string& out, const std::string& key, const std::string& text) {
  std::string body = "tEXt" + key.substr(0, 79) + std::string(1, '\0') + text;
  const uint32_t len = static_cast<uint32_t>(body.size() - 4);
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((len >> s) & 0xff));
  out += body;
  uint32_t crc = av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), 0xFFFFFFFFu,
                        reinterpret_cast<const uint8_t*>(body.data()), body.size()) ^ 0xFFFFFFFFu;
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((crc >> s) & 0xff));
}
}  // namespace

void check_output_path(const fs::path& path, Codec codec) {
  VideoWriterOptions o;
  o.path = path;
  o.codec = codec;
  codec_for(o);
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("output directory does not exist: " + dir.string());
  if (::access(dir.c_str(), W_OK) != 0) throw InputError("output directory is not writable: " + dir.string());
  if (fs::is_directory(path, ec)) throw InputError("output " + path.string() + " is a directory");
}

Rational parse_fps(const std::string& text) {
  Rational r;
  try {
    size_t slash = text.find('/');
    if (slash != std::string::npos) {
      size_t a = 0, b = 0;
      r.num = std::stoi(text.substr(0, slash), &a);
      r.den = std::stoi(text.substr(slash + 1), &b);
      if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument(text);
    } else {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
      AVRational q = av_d2q(v, 100000);
      r.num = q.num;
      r.den = q.den;
    }
  } catch (const std::exception&) {
    throw UsageError("--fps " + text + ": expected a number such as 16, 23.976 or 24000/1001");
  }
  if (r.num <= 0 || r.den <= 0 || r.value() > 240.0) {
    throw UsageError("--fps " + text + ": must be between 0 and 240");
  }
  return r;
}

struct VideoWriter::State {
  VideoWriterOptions options;
  Codec codec = Codec::H264;
  std::unique_ptr<AtomicOutput> out;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* enc = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  int enc_width = 0, enc_height = 0;
  int64_t frames = 0;
  bool finished = false;
  std::string png_bytes;

  ~State() {
    if (sws) sws_freeContext(sws);
    if (frame) av_frame_free(&frame);
    if (packet) av_packet_free(&packet);
    if (enc) avcodec_free_context(&enc);
    if (fmt) {
      if (fmt->pb) avio_closep(&fmt->pb);
      avformat_free_context(fmt);
    }
  }

  torch::Tensor padded = torch::empty({0, 0, 3}, torch::kUInt8);  // conversion source with spare rows

  [[noreturn]] void fail(const std::string& what, int code) const {
    throw Error("video writer (" + options.path.string() + "): " + what + ": " + av_error(code));
  }

  void open() {
    // FFmpeg's own chatter (x264 statistics...) only at debug level.
    av_log_set_level(t2v::logger().level() <= spdlog::level::debug ? AV_LOG_INFO : AV_LOG_ERROR);
    const int w = options.width, h = options.height;
    if (w <= 0 || h <= 0) throw InputError("video writer: invalid frame size " + std::to_string(w) + "x" + std::to_string(h));
    const bool yuv420 = codec != Codec::PNG;
    enc_width = yuv420 ? (w + 1) / 2 * 2 : w;
    enc_height = yuv420 ? (h + 1) / 2 * 2 : h;
    if (enc_width != w || enc_height != h) {
      t2v::logger().info("{}x{} is odd-sized; yuv420p needs even sizes, so the video is {}x{} (last row/column repeated)",
                   w, h, enc_width, enc_height);
    }
    const char* name = codec == Codec::H264 ? "libx264" : codec == Codec::H265 ? "libx265"
                       : codec == Codec::VP9 ? "libvpx-vp9" : "png";
    const AVCodec* c = avcodec_find_encoder_by_name(name);
    if (!c) throw Error(std::string("FFmpeg encoder '") + name + "' is not available in this FFmpeg build");
    enc = avcodec_alloc_context3(c);
    enc->width = enc_width;
    enc->height = enc_height;
    enc->time_base = AVRational{options.fps.den, options.fps.num};
    enc->framerate = AVRational{options.fps.num, options.fps.den};
    if (yuv420) {
      enc->pix_fmt = AV_PIX_FMT_YUV420P;
      enc->colorspace = AVCOL_SPC_BT709;
      enc->color_primaries = AVCOL_PRI_BT709;
      enc->color_trc = AVCOL_TRC_BT709;
      enc->color_range = AVCOL_RANGE_MPEG;
      enc->gop_size = 2 * std::max(1, static_cast<int>(options.fps.value()));
    } else {
      enc->pix_fmt = AV_PIX_FMT_RGB24;
    }
    AVDictionary* opts = nullptr;
    if (codec == Codec::H264 || codec == Codec::H265) {
      av_dict_set(&opts, "crf", std::to_string(options.crf).c_str(), 0);
      av_dict_set(&opts, "preset", options.preset.c_str(), 0);
      // Same frames, same file: Debian's x264 (core 164) with its AVX-512 kernels encoded identical
      // YUV frames differently from one process (or one encoder) to the next, as if reading
      // uninitialised memory; with asm=avx2 (threads as usual) the output is repeatable.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
      if (codec == Codec::H264 && __builtin_cpu_supports("avx512f")) av_dict_set(&opts, "x264-params", "asm=avx2", 0);
#endif
      if (codec == Codec::H265) av_dict_set(&opts, "x265-params", "log-level=error", 0);
    } else if (codec == Codec::VP9) {
      av_dict_set(&opts, "crf", std::to_string(options.crf).c_str(), 0);
      av_dict_set(&opts, "b", "0", 0);
      av_dict_set(&opts, "row-mt", "1", 0);
    }
    if (codec != Codec::PNG) {
      if (avformat_alloc_output_context2(&fmt, nullptr, nullptr, out->temp_path().c_str()) < 0 || !fmt) {
        throw Error("video writer: cannot create a container for " + options.path.string());
      }
      if (fmt->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    }
    int rc = avcodec_open2(enc, c, &opts);
    av_dict_free(&opts);
    if (rc < 0) fail(std::string("cannot open encoder ") + name, rc);

    frame = av_frame_alloc();
    packet = av_packet_alloc();
    frame->format = enc->pix_fmt;
    frame->width = enc_width;
    frame->height = enc_height;
    if ((rc = av_frame_get_buffer(frame, 0)) < 0) fail("cannot allocate a frame", rc);
    if (yuv420) {
      sws = sws_getContext(enc_width, enc_height, AV_PIX_FMT_RGB24, enc_width, enc_height, AV_PIX_FMT_YUV420P,
                           SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr);
      if (!sws) throw Error("video writer: cannot create the colour converter");
      const int* coeffs = sws_getCoefficients(SWS_CS_ITU709);
      sws_setColorspaceDetails(sws, coeffs, 1 /*full-range RGB*/, coeffs, 0 /*limited-range YUV*/, 0, 1 << 16, 1 << 16);
    }
    if (codec == Codec::PNG) return;

    stream = avformat_new_stream(fmt, nullptr);
    stream->time_base = enc->time_base;
    stream->avg_frame_rate = enc->framerate;
    avcodec_parameters_from_context(stream->codecpar, enc);
    if (codec == Codec::H265 && std::string(fmt->oformat->name).find("mp4") != std::string::npos) {
      stream->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');  // plays in QuickTime/Safari
    }
    for (const auto& [k, v] : options.metadata) av_dict_set(&fmt->metadata, k.c_str(), v.c_str(), 0);
    if ((rc = avio_open(&fmt->pb, out->temp_path().c_str(), AVIO_FLAG_WRITE)) < 0) fail("cannot open the output file", rc);
    AVDictionary* mux = nullptr;
    if (std::string(fmt->oformat->name).find("mp4") != std::string::npos) av_dict_set(&mux, "movflags", "+faststart", 0);
    rc = avformat_write_header(fmt, &mux);
    av_dict_free(&mux);
    if (rc < 0) fail("cannot write the container header", rc);
  }

  void drain(bool flush) {
    int rc = avcodec_send_frame(enc, flush ? nullptr : frame);
    if (rc < 0) fail("encoding failed", rc);
    while ((rc = avcodec_receive_packet(enc, packet)) >= 0) {
      if (codec == Codec::PNG) {
        png_bytes.assign(reinterpret_cast<const char*>(packet->data), static_cast<size_t>(packet->size));
      } else {
        av_packet_rescale_ts(packet, enc->time_base, stream->time_base);
        packet->stream_index = stream->index;
        if ((rc = av_interleaved_write_frame(fmt, packet)) < 0) fail("cannot write a packet", rc);
      }
      av_packet_unref(packet);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) fail("encoding failed", rc);
  }
};

VideoWriter::VideoWriter(const VideoWriterOptions& options) : state_(std::make_unique<State>()) {
  state_->options = options;
  state_->codec = codec_for(options);
  state_->out = std::make_unique<AtomicOutput>(options.path);
  state_->open();
}

VideoWriter::~VideoWriter() = default;  // State closes FFmpeg; AtomicOutput removes the temp file

void VideoWriter::write(const torch::Tensor& frame_in) {
  State& s = *state_;
  if (s.finished) throw Error("video writer: write() after finish()");
  const auto& o = s.options;
  if (frame_in.dim() != 3 || frame_in.size(0) != o.height || frame_in.size(1) != o.width || frame_in.size(2) != 3 ||
      frame_in.scalar_type() != torch::kUInt8) {
    throw InputError("video writer: expected a uint8 [" + std::to_string(o.height) + ", " + std::to_string(o.width) +
                     ", 3] frame");
  }
  if (s.codec == Codec::PNG && s.frames == 1) {
    throw UsageError("output " + o.path.string() + ": a .png holds one frame; use --frames 1 or a video extension");
  }
  torch::Tensor rgb = frame_in.to(torch::kCPU).contiguous();
  if (s.enc_width != o.width || s.enc_height != o.height) {  // pad odd sizes by edge replication
    rgb = torch::cat({rgb, rgb.slice(0, o.height - 1).expand({s.enc_height - o.height, o.width, 3})}, 0);
    rgb = torch::cat({rgb, rgb.slice(1, o.width - 1).expand({s.enc_height, s.enc_width - o.width, 3})}, 1).contiguous();
  }
  // swscale's SIMD input readers may read a little past the end of the source picture (FFmpeg
  // expects padded buffers): the frame goes into a 64-byte-aligned buffer with spare zero rows.
  if (s.padded.size(1) != s.enc_width) s.padded = torch::zeros({s.enc_height + 2, s.enc_width, 3}, torch::kUInt8);
  s.padded.slice(0, 0, s.enc_height).copy_(rgb);
  rgb = s.padded;
  int rc = av_frame_make_writable(s.frame);
  if (rc < 0) s.fail("frame buffer", rc);
  const uint8_t* src[1] = {rgb.data_ptr<uint8_t>()};
  const int stride[1] = {3 * s.enc_width};
  if (s.sws) {
    sws_scale(s.sws, src, stride, 0, s.enc_height, s.frame->data, s.frame->linesize);
  } else {
    for (int y = 0; y < s.enc_height; ++y) std::memcpy(s.frame->data[0] + y * s.frame->linesize[0], src[0] + y * stride[0], stride[0]);
  }
  s.frame->pts = s.frames++;
  s.drain(false);
}

void VideoWriter::finish() {
  State& s = *state_;
  if (s.finished) return;
  if (s.frames == 0) throw Error("video writer (" + s.options.path.string() + "): no frames were written");
  s.drain(true);
  if (s.codec == Codec::PNG) {
    // Splice tEXt chunks in after IHDR (8-byte signature + 25-byte IHDR chunk).
    std::string bytes = s.png_bytes.substr(0, 33);
    for (const auto& [k, v] : s.options.metadata) append_text_chunk(bytes, k, v);
    bytes += s.png_bytes.substr(33);
    std::ofstream f(s.out->temp_path(), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw InputError("cannot write " + s.out->temp_path().string());
  } else {
    int rc = av_write_trailer(s.fmt);
    if (rc < 0) s.fail("cannot finish the container", rc);
    avio_closep(&s.fmt->pb);
  }
  s.out->commit();
  s.finished = true;
}

int64_t VideoWriter::frames_written() const { return state_->frames; }
const fs::path& VideoWriter::path() const { return state_->options.path; }

}  // namespace t2v::io
