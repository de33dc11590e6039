// Decodes a whole video (or PNG) to uint8 RGB frames with libavformat/libavcodec. Used by the
// round-trip and end-to-end tests; later the input side of video-to-video.
#include <torch/torch.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cstdio>
#include <climits>
#include <mutex>
#include <vector>

#include "t2v/error.h"
#include "t2v/io/video_writer.h"

namespace t2v::io {

std::string av_error(int code);

namespace {
struct Ctx {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* dec = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  ~Ctx() {
    if (sws) sws_freeContext(sws);
    if (frame) av_frame_free(&frame);
    if (packet) av_packet_free(&packet);
    if (dec) avcodec_free_context(&dec);
    if (fmt) avformat_close_input(&fmt);
  }
};

void collect(const AVDictionary* dict, std::map<std::string, std::string>& out) {
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX))) out.emplace(e->key, e->value);
}
}  // namespace

namespace {
// The first frame's source format (DecodedVideo::pixel_format ... cmyk). Transparency is read from
// an RGBA conversion of frames whose format carries alpha (incl. palettes, whose entries may).
void describe_source(const AVFrame* f, AVCodecID codec, DecodedVideo& out) {
  const auto fmt = static_cast<AVPixelFormat>(f->format);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  if (!d) return;
  out.pixel_format = d->name;
  out.bits_per_component = d->comp[0].depth;
  const bool alpha = (d->flags & AV_PIX_FMT_FLAG_ALPHA) || (d->flags & AV_PIX_FMT_FLAG_PAL);
  // JPEG has no alpha: a fourth component is the K of CMYK / YCCK.
  out.cmyk = codec == AV_CODEC_ID_MJPEG && d->nb_components == 4;
  if (!alpha || out.cmyk) return;
  SwsContext* sws = sws_getContext(f->width, f->height, fmt, f->width, f->height, AV_PIX_FMT_RGBA, SWS_POINT, nullptr,
                                   nullptr, nullptr);
  if (!sws) return;
  std::vector<uint8_t> rgba(static_cast<size_t>(f->width) * static_cast<size_t>(f->height + 1) * 4);
  uint8_t* dst[1] = {rgba.data()};
  const int stride[1] = {4 * f->width};
  sws_scale(sws, f->data, f->linesize, 0, f->height, dst, stride);
  sws_freeContext(sws);
  for (size_t i = 3; i < static_cast<size_t>(f->width) * static_cast<size_t>(f->height) * 4; i += 4) {
    if (rgba[i] != 255) {
      out.transparent = true;
      break;
    }
  }
}
}  // namespace

DecodedVideo read_video(const std::filesystem::path& path, uint64_t max_bytes) {
  // A corrupt input gets one error line from t2v; FFmpeg's own decoder chatter would precede it.
  static std::once_flag quiet;
  std::call_once(quiet, [] { if (av_log_get_level() > AV_LOG_FATAL) av_log_set_level(AV_LOG_FATAL); });
  Ctx c;
  int rc = avformat_open_input(&c.fmt, path.c_str(), nullptr, nullptr);
  if (rc < 0) throw InputError(path.string() + ": cannot open video: " + av_error(rc));
  // The decoders probing the streams get the same pixel limit as ours (below): a corrupt header
  // claiming a huge frame is refused before its buffers are allocated.
  const int64_t max_pixels = static_cast<int64_t>(std::min<uint64_t>(max_bytes / 3 + 1, INT32_MAX));
  {
    std::vector<AVDictionary*> probe_opts(c.fmt->nb_streams, nullptr);
    for (auto& d : probe_opts) av_dict_set_int(&d, "max_pixels", max_pixels, 0);
    rc = avformat_find_stream_info(c.fmt, probe_opts.empty() ? nullptr : probe_opts.data());
    for (auto& d : probe_opts) av_dict_free(&d);
  }
  if (rc < 0) throw InputError(path.string() + ": " + av_error(rc));
  const AVCodec* codec = nullptr;
  const int index = av_find_best_stream(c.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (index < 0 || !codec) throw InputError(path.string() + ": no decodable video stream");
  AVStream* st = c.fmt->streams[index];
  c.dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(c.dec, st->codecpar);
  // The decoder refuses frames beyond the decode budget before it allocates them (a corrupt header
  // may claim 60000x60000); the budget check below then names the limit.
  AVDictionary* dec_opts = nullptr;
  av_dict_set_int(&dec_opts, "max_pixels", max_pixels, 0);
  rc = avcodec_open2(c.dec, codec, &dec_opts);
  av_dict_free(&dec_opts);
  if (rc < 0) throw InputError(path.string() + ": " + av_error(rc));

  DecodedVideo out;
  out.width = c.dec->width;
  out.height = c.dec->height;
  out.codec = codec->name;
  const AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
  out.fps = Rational{fr.num ? fr.num : 1, fr.den ? fr.den : 1};
  collect(c.fmt->metadata, out.metadata);
  collect(st->metadata, out.metadata);

  std::vector<torch::Tensor> frames;
  uint64_t bytes = 0;
  int sws_format = -1;
  auto budget = [&](int64_t w, int64_t h) {
    if (w <= 0 || h <= 0 || w > 65536 || h > 65536) {
      throw InputError(path.string() + ": frame size " + std::to_string(w) + "x" + std::to_string(h) + " is not supported");
    }
    bytes += static_cast<uint64_t>(w) * static_cast<uint64_t>(h) * 3;
    if (bytes > max_bytes) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%.1f", static_cast<double>(max_bytes) / (1 << 20));
      throw InputError(path.string() + ": its frames need more than " + limit + " MiB decoded; use a shorter or smaller clip");
    }
  };
  if (c.dec->width > 0 && c.dec->height > 0) {  // the header's size, before any frame is decoded
    budget(c.dec->width, c.dec->height);
    bytes = 0;
  }
  c.frame = av_frame_alloc();
  c.packet = av_packet_alloc();
  auto receive = [&]() {
    while (avcodec_receive_frame(c.dec, c.frame) >= 0) {
      if (frames.empty()) collect(c.frame->metadata, out.metadata);  // PNG tEXt chunks
      budget(c.frame->width, c.frame->height);
      if (!frames.empty() && (c.frame->width != frames[0].size(1) || c.frame->height != frames[0].size(0))) {
        throw InputError(path.string() + ": the frame size changes within the video (" + std::to_string(frames[0].size(1)) +
                         "x" + std::to_string(frames[0].size(0)) + " -> " + std::to_string(c.frame->width) + "x" +
                         std::to_string(c.frame->height) + ")");
      }
      if (!c.sws || c.frame->format != sws_format) {  // a stream may switch pixel formats
        if (c.sws) sws_freeContext(c.sws);
        const int cs = c.frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
        c.sws = sws_getContext(c.frame->width, c.frame->height, static_cast<AVPixelFormat>(c.frame->format),
                               c.frame->width, c.frame->height, AV_PIX_FMT_RGB24,
                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr);
        if (!c.sws) throw InputError(path.string() + ": unsupported pixel format");
        sws_format = c.frame->format;
        const int* coeffs = sws_getCoefficients(cs);
        const int src_full = c.frame->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
        sws_setColorspaceDetails(c.sws, coeffs, src_full, coeffs, 1, 0, 1 << 16, 1 << 16);
      }
      if (frames.empty()) describe_source(c.frame, c.dec->codec_id, out);
      // One spare row: swscale's SIMD writers may store a few bytes past the last pixel.
      auto buffer = torch::empty({c.frame->height + 1, c.frame->width, 3}, torch::kUInt8);
      uint8_t* dst[1] = {buffer.data_ptr<uint8_t>()};
      const int stride[1] = {3 * c.frame->width};
      sws_scale(c.sws, c.frame->data, c.frame->linesize, 0, c.frame->height, dst, stride);
      auto rgb = buffer.slice(0, 0, c.frame->height);  // [H, W, 3]
      frames.push_back(rgb);
      av_frame_unref(c.frame);
    }
  };
  while (av_read_frame(c.fmt, c.packet) >= 0) {
    if (c.packet->stream_index == index) {
      avcodec_send_packet(c.dec, c.packet);
      receive();
    }
    av_packet_unref(c.packet);
  }
  avcodec_send_packet(c.dec, nullptr);
  receive();
  if (frames.empty()) throw InputError(path.string() + ": no video frames could be decoded (empty or corrupt)");
  out.frames = torch::stack(frames);
  return out;
}

}  // namespace t2v::io
