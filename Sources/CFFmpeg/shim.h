// Shim for what Swift cannot import from FFmpeg's headers (function-like macros, fixed-size
// pointer arrays inside structs, side data lookups). Only Sources/Video includes this module.
#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <math.h>

static inline int swift_AVERROR(int e) { return AVERROR(e); }
static inline int swift_AVERROR_EOF(void) { return AVERROR_EOF; }
static inline int swift_AVERROR_INVALIDDATA(void) { return AVERROR_INVALIDDATA; }
static inline int swift_AVERROR_DECODER_NOT_FOUND(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int swift_EAGAIN(void) { return EAGAIN; }
static inline int swift_ENOENT(void) { return ENOENT; }
static inline int64_t swift_AV_NOPTS_VALUE(void) { return AV_NOPTS_VALUE; }

/// Plane pointers and line sizes of a frame (Swift sees `data` as an 8-tuple).
static inline uint8_t **swift_frame_data(AVFrame *f) { return f->data; }
static inline int *swift_frame_linesize(AVFrame *f) { return f->linesize; }

/// Clockwise rotation in degrees, in [0, 360), that shows the stream upright; 0 without a display matrix.
static inline double swift_stream_rotation(const AVStream *st) {
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!m || size < 9 * sizeof(int32_t)) return 0;
    double theta = av_display_rotation_get((const int32_t *)m);
    if (isnan(theta)) return 0;
    // av_display_rotation_get gives the counter-clockwise angle; the ffmpeg tool negates it.
    theta = -theta;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    return theta;
}

/// Converts a decoded frame to one packed picture (RGB24 or GRAY8) of the scaler's output size.
static inline int swift_sws_frame_to_packed(struct SwsContext *c, const AVFrame *src, uint8_t *dst, int dstStride) {
    uint8_t *planes[4] = { dst, NULL, NULL, NULL };
    int strides[4] = { dstStride, 0, 0, 0 };
    return sws_scale(c, (const uint8_t *const *)src->data, src->linesize, 0, src->height, planes, strides);
}

/// Converts one packed picture (RGB24 or GRAY8) into a frame's planes.
static inline int swift_sws_packed_to_frame(struct SwsContext *c, const uint8_t *src, int srcStride, int srcH,
                                            AVFrame *dst) {
    const uint8_t *planes[4] = { src, NULL, NULL, NULL };
    int strides[4] = { srcStride, 0, 0, 0 };
    return sws_scale(c, planes, strides, 0, srcH, dst->data, dst->linesize);
}

/// Converts one packed picture into another packed picture (resizing).
static inline int swift_sws_packed_to_packed(struct SwsContext *c, const uint8_t *src, int srcStride, int srcH,
                                             uint8_t *dst, int dstStride) {
    const uint8_t *splanes[4] = { src, NULL, NULL, NULL };
    int sstrides[4] = { srcStride, 0, 0, 0 };
    uint8_t *dplanes[4] = { dst, NULL, NULL, NULL };
    int dstrides[4] = { dstStride, 0, 0, 0 };
    return sws_scale(c, splanes, sstrides, 0, srcH, dplanes, dstrides);
}
