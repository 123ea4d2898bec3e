// zlib, for deflated .npz members.
#pragma once
#include <zlib.h>

static inline int swift_inflateInit2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
static inline int swift_deflateInit2(z_streamp s, int level, int windowBits) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
