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
#include <libavutil/sha.h>
#include <math.h>
#include <string.h>

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

/// A zero-filled buffer for a packed picture of h rows of rowBytes, in rows aligned to 64 bytes with 64 spare bytes
/// each and one spare row; its stride goes to *stride. swscale's SIMD paths read and write whole vectors, past the
/// last pixel of a row and of the picture (valgrind sees reads up to 16 bytes past an exact w·h·3 buffer), so a
/// packed picture is handed to it only in such a buffer. Free with av_free; NULL when out of memory.
static inline uint8_t *swift_padded_picture(int rowBytes, int h, int *stride) {
    if (rowBytes <= 0 || h <= 0) return NULL;
    *stride = FFALIGN(rowBytes, 64) + 64;
    return av_mallocz((size_t)*stride * (size_t)(h + 1));
}

/// Converts one packed picture (RGB24 or GRAY8; h rows of srcStride bytes, no padding) into a frame's planes,
/// through a padded copy (see swift_padded_picture).
static inline int swift_sws_packed_to_frame(struct SwsContext *c, const uint8_t *src, int srcStride, int srcH,
                                            AVFrame *dst) {
    int stride = 0;
    uint8_t *padded = swift_padded_picture(srcStride, srcH, &stride);
    if (!padded) return AVERROR(ENOMEM);
    for (int y = 0; y < srcH; y++) memcpy(padded + (size_t)y * stride, src + (size_t)y * srcStride, srcStride);
    const uint8_t *planes[4] = { padded, NULL, NULL, NULL };
    int strides[4] = { stride, 0, 0, 0 };
    int rc = sws_scale(c, planes, strides, 0, srcH, dst->data, dst->linesize);
    av_free(padded);
    return rc;
}

/// Converts one packed picture into another packed picture of dstH rows of dstStride bytes (resizing), both
/// through padded copies (see swift_padded_picture).
static inline int swift_sws_packed_to_packed(struct SwsContext *c, const uint8_t *src, int srcStride, int srcH,
                                             uint8_t *dst, int dstStride, int dstH) {
    int sstride = 0, dstride = 0;
    uint8_t *spadded = swift_padded_picture(srcStride, srcH, &sstride);
    uint8_t *dpadded = swift_padded_picture(dstStride, dstH, &dstride);
    if (!spadded || !dpadded) {
        av_free(spadded);
        av_free(dpadded);
        return AVERROR(ENOMEM);
    }
    for (int y = 0; y < srcH; y++) memcpy(spadded + (size_t)y * sstride, src + (size_t)y * srcStride, srcStride);
    const uint8_t *splanes[4] = { spadded, NULL, NULL, NULL };
    int sstrides[4] = { sstride, 0, 0, 0 };
    uint8_t *dplanes[4] = { dpadded, NULL, NULL, NULL };
    int dstrides[4] = { dstride, 0, 0, 0 };
    int rc = sws_scale(c, splanes, sstrides, 0, srcH, dplanes, dstrides);
    if (rc >= 0) {
        for (int y = 0; y < dstH; y++) memcpy(dst + (size_t)y * dstStride, dpadded + (size_t)y * dstride, dstStride);
    }
    av_free(spadded);
    av_free(dpadded);
    return rc;
}
