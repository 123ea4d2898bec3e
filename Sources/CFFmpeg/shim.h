// Shim for what Swift cannot import from FFmpeg's headers (function-like macros).
#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>

static inline int swift_AVERROR(int e) { return AVERROR(e); }
static inline int swift_AVERROR_EOF(void) { return AVERROR_EOF; }
static inline int swift_EAGAIN(void) { return EAGAIN; }
static inline int64_t swift_AV_NOPTS_VALUE(void) { return AV_NOPTS_VALUE; }
