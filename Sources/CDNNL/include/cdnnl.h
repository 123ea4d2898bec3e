// cdnnl: the engine's thin C layer over oneDNN (Debian's libdnnl 2.6, OpenMP runtime).
//
// Convolutions and matrix products are prepared once (weights reordered into the layout the chosen
// kernel wants, folded batch norm, bias and post-ops fixed) and then run block by block: the output
// rows of each image are cut into a number of blocks fixed by the shape, and every block is its own
// single-threaded oneDNN primitive over a contiguous slice of the NHWC buffers. The caller (Swift's
// Engine) spreads the blocks over its workers, so oneDNN never starts threads of its own, the two
// libraries never compete for the cores, and a result does not depend on the worker count.
#ifndef CDNNL_H
#define CDNNL_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A convolution in TensorFlow's NHWC/HWIO terms.
typedef struct {
    int n, h, w, cin;          ///< input [n, h, w, cin]
    int ho, wo, cout;          ///< output [n, ho, wo, cout]
    int kh, kw;                ///< kernel
    int sy, sx;                ///< strides
    int dy, dx;                ///< dilation rates (1 = none, as TensorFlow's `rate`)
    int pad_t, pad_l;          ///< padding before the first row/column ('SAME': the smaller half)
    int src_bf16, dst_bf16;    ///< element types: 1 = bf16, 0 = fp32
    int sum;                   ///< dst holds a residual (dst's type) added before the ReLU
    int relu;                  ///< max(·, 0) last
    int row_blocks;            ///< blocks per image (fixed by the shape)
} cdnnl_conv_desc;

typedef struct cdnnl_conv cdnnl_conv;

/// Prepares a convolution: y = relu?(conv(x, w·scale) + bias + dst) per the flags. `weights` is HWIO
/// fp32 [kh, kw, cin, cout]; `scale` and `bias` are per output channel (either may be NULL).
/// Returns NULL and a message in `err` when oneDNN cannot make it.
cdnnl_conv *cdnnl_conv_create(const cdnnl_conv_desc *d, const float *weights, const float *scale,
                              const float *bias, char *err, size_t errlen);
/// Tasks of one run: n × row_blocks.
int cdnnl_conv_tasks(const cdnnl_conv *c);
/// Row blocks per image (a run of any number of images has images × this many tasks).
int cdnnl_conv_blocks(const cdnnl_conv *c);
/// The output rows [*first, *end) of an image that row block `b` writes.
void cdnnl_conv_block_rows(const cdnnl_conv *c, int b, int *first, int *end);
/// Runs task t (image t / row_blocks, row block t % row_blocks) on the calling thread. src and dst are
/// the whole NHWC buffers. Returns 0, or a oneDNN status.
int cdnnl_conv_run(const cdnnl_conv *c, int t, const void *src, void *dst);
/// The oneDNN implementation name of the first block (e.g. "brgconv:avx512_core_bf16").
const char *cdnnl_conv_impl(const cdnnl_conv *c);
/// Bytes held by the prepared weights.
size_t cdnnl_conv_weight_bytes(const cdnnl_conv *c);
void cdnnl_conv_destroy(cdnnl_conv *c);

/// C[m, n] (fp32) = A[m, k] · B[k, n], A and B bf16 row-major, cut into `row_blocks` blocks of rows.
typedef struct cdnnl_matmul cdnnl_matmul;
cdnnl_matmul *cdnnl_matmul_create(int m, int n, int k, int row_blocks, char *err, size_t errlen);
int cdnnl_matmul_run(const cdnnl_matmul *p, int block, const uint16_t *a, const uint16_t *b, float *c);
const char *cdnnl_matmul_impl(const cdnnl_matmul *p);
void cdnnl_matmul_destroy(cdnnl_matmul *p);

/// Round to nearest even, NaN kept quiet; bf16 → fp32 is exact.
void cdnnl_f32_to_bf16(const float *src, uint16_t *dst, size_t count);
void cdnnl_bf16_to_f32(const uint16_t *src, float *dst, size_t count);

/// The instruction set oneDNN dispatches to (dnnl_cpu_isa_t) and its name.
int cdnnl_effective_isa(void);
const char *cdnnl_isa_name(int isa);
/// 1 when the ISA has native bf16 arithmetic (AVX512_BF16 or AMX).
int cdnnl_isa_has_native_bf16(int isa);
/// oneDNN's version, "major.minor.patch".
const char *cdnnl_version(void);

#ifdef __cplusplus
}
#endif
#endif
