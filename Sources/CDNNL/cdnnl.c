// cdnnl.c: oneDNN convolutions and products as single-threaded blocks (see include/cdnnl.h).
#include "cdnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libgomp (Debian's oneDNN uses OpenMP). Each calling thread asks for one OpenMP thread, so oneDNN
// runs a block inline and never opens a parallel region.
extern void omp_set_num_threads(int);

static dnnl_engine_t shared_engine(void) {
    static dnnl_engine_t engine = NULL;
    static int made = 0;
    if (!__atomic_load_n(&made, __ATOMIC_ACQUIRE)) {
        static int lock = 0;
        while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {}
        if (!made) {
            if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
            __atomic_store_n(&made, 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    }
    return engine;
}

static void set_error(char *err, size_t len, const char *what, dnnl_status_t s) {
    if (err && len) snprintf(err, len, "%s failed (oneDNN status %d)", what, (int)s);
}

#define TRY(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { set_error(err, errlen, what, s_); goto fail; } } while (0)

/// One block's primitive and what it needs to run.
typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md;
    int weights;             // index into the layer's weight copies
    size_t scratch;          // scratchpad bytes
    size_t src_offset, dst_offset;   // elements from an image's first row
} conv_block;

struct cdnnl_conv {
    cdnnl_conv_desc d;
    int blocks;
    conv_block *block;
    int weight_count;
    dnnl_memory_desc_t weight_md[8];
    void *weight_data[8];
    size_t weight_bytes;
    dnnl_memory_desc_t bias_md;
    float *bias;
    char impl[128];
};

static void *aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

cdnnl_conv *cdnnl_conv_create(const cdnnl_conv_desc *d, const float *weights, const float *scale,
                              const float *bias, char *err, size_t errlen) {
    omp_set_num_threads(1);
    dnnl_engine_t engine = shared_engine();
    if (!engine) { set_error(err, errlen, "dnnl_engine_create", dnnl_runtime_error); return NULL; }
    if (d->row_blocks < 1 || d->n < 1 || d->ho < 1 || d->wo < 1) {
        if (err && errlen) snprintf(err, errlen, "empty convolution");
        return NULL;
    }
    cdnnl_conv *c = calloc(1, sizeof *c);
    float *folded = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_stream_t stream = NULL;
    if (!c) return NULL;
    c->d = *d;
    int size = (d->ho + d->row_blocks - 1) / d->row_blocks;
    c->blocks = (d->ho + size - 1) / size;
    c->block = calloc((size_t)c->blocks, sizeof(conv_block));
    if (!c->block) goto fail;

    // Weights with the batch-norm scale folded in, as fp32 HWIO.
    size_t wcount = (size_t)d->kh * d->kw * d->cin * d->cout;
    folded = malloc(wcount * sizeof(float));
    if (!folded) goto fail;
    for (size_t i = 0; i < wcount; i++) folded[i] = scale ? weights[i] * scale[i % (size_t)d->cout] : weights[i];
    c->bias = aligned((size_t)d->cout * sizeof(float));
    if (!c->bias) goto fail;
    for (int o = 0; o < d->cout; o++) c->bias[o] = bias ? bias[o] : 0;
    dnnl_dims_t bias_dims = {d->cout};
    TRY(dnnl_memory_desc_init_by_tag(&c->bias_md, 1, bias_dims, dnnl_f32, dnnl_a), "bias descriptor");

    TRY(dnnl_primitive_attr_create(&attr), "attributes");
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    TRY(dnnl_post_ops_create(&ops), "post-ops");
    if (d->sum) TRY(dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op");
    if (d->relu) TRY(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op");
    TRY(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops attribute");
    TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");

    dnnl_data_type_t src_t = d->src_bf16 ? dnnl_bf16 : dnnl_f32, dst_t = d->dst_bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t wei_t = d->src_bf16 ? dnnl_bf16 : dnnl_f32;
    int extent_y = (d->kh - 1) * d->dy, extent_x = (d->kw - 1) * d->dx;
    int pad_r = (d->wo - 1) * d->sx - d->pad_l + extent_x - (d->w - 1);
    if (pad_r < 0) pad_r = 0;
    for (int b = 0; b < c->blocks; b++) {
        conv_block *k = &c->block[b];
        int r0 = b * size, r1 = r0 + size < d->ho ? r0 + size : d->ho;
        int first = r0 * d->sy - d->pad_t, last = (r1 - 1) * d->sy - d->pad_t + extent_y;
        int in0 = first > 0 ? first : 0, in1 = last < d->h - 1 ? last : d->h - 1;
        if (in1 < in0) { if (err && errlen) snprintf(err, errlen, "row block %d lies in the padding", b); goto fail; }
        int pad_t = in0 - first, pad_b = last - in1, in_h = in1 - in0 + 1;
        dnnl_dims_t sd = {1, d->cin, in_h, d->w}, dd = {1, d->cout, r1 - r0, d->wo};
        dnnl_dims_t wd = {d->cout, d->cin, d->kh, d->kw};
        dnnl_dims_t strides = {d->sy, d->sx}, dil = {d->dy - 1, d->dx - 1};
        dnnl_dims_t pl = {pad_t, d->pad_l}, pr = {pad_b, pad_r};
        dnnl_memory_desc_t wmd_any;
        TRY(dnnl_memory_desc_init_by_tag(&k->src_md, 4, sd, src_t, dnnl_nhwc), "source descriptor");
        TRY(dnnl_memory_desc_init_by_tag(&k->dst_md, 4, dd, dst_t, dnnl_nhwc), "destination descriptor");
        TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 4, wd, wei_t, dnnl_format_tag_any), "weights descriptor");
        dnnl_convolution_desc_t cd;
        TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                &k->src_md, &wmd_any, &c->bias_md, &k->dst_md, strides, dil, pl, pr), "convolution descriptor");
        dnnl_primitive_desc_t pd;
        TRY(dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL), "convolution primitive descriptor");
        if (b == 0) {
            const char *impl = NULL;
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
            snprintf(c->impl, sizeof c->impl, "%s", impl ? impl : "?");
        }
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        k->scratch = smd ? dnnl_memory_desc_get_size(smd) : 0;
        int found = -1;
        for (int i = 0; i < c->weight_count; i++) if (dnnl_memory_desc_equal(&c->weight_md[i], wmd)) found = i;
        if (found < 0) {
            if (c->weight_count == 8) { dnnl_primitive_desc_destroy(pd); if (err) snprintf(err, errlen, "too many weight layouts"); goto fail; }
            found = c->weight_count++;
            c->weight_md[found] = *wmd;
            size_t bytes = dnnl_memory_desc_get_size(wmd);
            c->weight_data[found] = aligned(bytes);
            c->weight_bytes += bytes;
            dnnl_memory_desc_t user_md;
            dnnl_dims_t wdims = {d->cout, d->cin, d->kh, d->kw};
            TRY(dnnl_memory_desc_init_by_tag(&user_md, 4, wdims, dnnl_f32, dnnl_hwio), "HWIO descriptor");
            dnnl_memory_t from = NULL, to = NULL;
            dnnl_primitive_desc_t rpd = NULL;
            dnnl_primitive_t reorder = NULL;
            dnnl_status_t s = dnnl_memory_create(&from, &user_md, engine, folded);
            if (s == dnnl_success) s = dnnl_memory_create(&to, wmd, engine, c->weight_data[found]);
            if (s == dnnl_success) s = dnnl_reorder_primitive_desc_create(&rpd, &user_md, engine, wmd, engine, NULL);
            if (s == dnnl_success) s = dnnl_primitive_create(&reorder, rpd);
            if (s == dnnl_success) {
                dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
                s = dnnl_primitive_execute(reorder, stream, 2, args);
                if (s == dnnl_success) s = dnnl_stream_wait(stream);
            }
            if (reorder) dnnl_primitive_destroy(reorder);
            if (rpd) dnnl_primitive_desc_destroy(rpd);
            if (from) dnnl_memory_destroy(from);
            if (to) dnnl_memory_destroy(to);
            if (s != dnnl_success) { dnnl_primitive_desc_destroy(pd); set_error(err, errlen, "weights reorder", s); goto fail; }
        }
        k->weights = found;
        dnnl_status_t s = dnnl_primitive_create(&k->prim, pd);
        dnnl_primitive_desc_destroy(pd);
        if (s != dnnl_success) { set_error(err, errlen, "convolution primitive", s); goto fail; }
        k->src_offset = (size_t)in0 * d->w * d->cin;
        k->dst_offset = (size_t)r0 * d->wo * d->cout;
    }
    free(folded);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    dnnl_stream_destroy(stream);
    return c;
fail:
    free(folded);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (stream) dnnl_stream_destroy(stream);
    cdnnl_conv_destroy(c);
    return NULL;
}

int cdnnl_conv_tasks(const cdnnl_conv *c) { return c->d.n * c->blocks; }
int cdnnl_conv_blocks(const cdnnl_conv *c) { return c->blocks; }

void cdnnl_conv_block_rows(const cdnnl_conv *c, int b, int *first, int *end) {
    int size = (c->d.ho + c->d.row_blocks - 1) / c->d.row_blocks;
    int r0 = b * size, r1 = r0 + size < c->d.ho ? r0 + size : c->d.ho;
    *first = r0;
    *end = r1;
}

/// Runs `prim` once on the calling thread: wraps each of the `n` buffers (`handles[i]`, described by `mds[i]`,
/// passed as argument `kinds[i]`) in a oneDNN memory, adds a scratchpad of `scratch` bytes, executes, and frees
/// what it made.
static dnnl_status_t run_primitive(dnnl_primitive_t prim, size_t scratch, int n, const int *kinds,
                                   const dnnl_memory_desc_t *const *mds, void *const *handles) {
    dnnl_engine_t engine = shared_engine();
    dnnl_exec_arg_t args[8];
    int made = 0;
    void *pad = scratch ? aligned(scratch) : NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t st = scratch && !pad ? dnnl_out_of_memory : dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    for (int i = 0; i < n && st == dnnl_success; i++) {
        args[made].arg = kinds[i];
        st = dnnl_memory_create(&args[made].memory, mds[i], engine, handles[i]);
        if (st == dnnl_success) made++;
    }
    if (st == dnnl_success && scratch) {
        dnnl_dims_t dims = {(dnnl_dim_t)scratch};
        dnnl_memory_desc_t md;
        st = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a);
        args[made].arg = DNNL_ARG_SCRATCHPAD;
        if (st == dnnl_success) st = dnnl_memory_create(&args[made].memory, &md, engine, pad);
        if (st == dnnl_success) made++;
    }
    if (st == dnnl_success) st = dnnl_primitive_execute(prim, stream, made, args);
    if (st == dnnl_success) st = dnnl_stream_wait(stream);
    for (int i = 0; i < made; i++) dnnl_memory_destroy(args[i].memory);
    if (stream) dnnl_stream_destroy(stream);
    free(pad);
    return st;
}

int cdnnl_conv_run(const cdnnl_conv *c, int t, const void *src, void *dst) {
    omp_set_num_threads(1);
    const cdnnl_conv_desc *d = &c->d;
    int image = t / c->blocks;
    const conv_block *k = &c->block[t % c->blocks];
    size_t src_elem = d->src_bf16 ? 2 : 4, dst_elem = d->dst_bf16 ? 2 : 4;
    const char *s = (const char *)src + ((size_t)image * d->h * d->w * d->cin + k->src_offset) * src_elem;
    char *o = (char *)dst + ((size_t)image * d->ho * d->wo * d->cout + k->dst_offset) * dst_elem;
    const int kinds[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[4] = {&k->src_md, &c->weight_md[k->weights], &c->bias_md, &k->dst_md};
    void *handles[4] = {(void *)s, c->weight_data[k->weights], c->bias, o};
    dnnl_status_t st = run_primitive(k->prim, k->scratch, 4, kinds, mds, handles);
    return st == dnnl_success ? 0 : (int)st;
}

const char *cdnnl_conv_impl(const cdnnl_conv *c) { return c->impl; }
size_t cdnnl_conv_weight_bytes(const cdnnl_conv *c) { return c->weight_bytes; }

void cdnnl_conv_destroy(cdnnl_conv *c) {
    if (!c) return;
    if (c->block) {
        for (int b = 0; b < c->blocks; b++) if (c->block[b].prim) dnnl_primitive_destroy(c->block[b].prim);
        free(c->block);
    }
    for (int i = 0; i < c->weight_count; i++) free(c->weight_data[i]);
    free(c->bias);
    free(c);
}

// ---- matrix product ----

struct cdnnl_matmul {
    int m, n, k, blocks, size;
    dnnl_primitive_t prim[64];
    dnnl_memory_desc_t a_md[64], c_md[64], b_md;
    size_t scratch[64];
    char impl[128];
};

cdnnl_matmul *cdnnl_matmul_create(int m, int n, int k, int row_blocks, char *err, size_t errlen) {
    omp_set_num_threads(1);
    dnnl_engine_t engine = shared_engine();
    if (!engine || m < 1 || n < 1 || k < 1 || row_blocks < 1 || row_blocks > 64) {
        if (err && errlen) snprintf(err, errlen, "bad matrix product %dx%dx%d", m, n, k);
        return NULL;
    }
    cdnnl_matmul *p = calloc(1, sizeof *p);
    dnnl_primitive_attr_t attr = NULL;
    if (!p) return NULL;
    p->m = m; p->n = n; p->k = k;
    p->size = (m + row_blocks - 1) / row_blocks;
    p->blocks = (m + p->size - 1) / p->size;
    TRY(dnnl_primitive_attr_create(&attr), "attributes");
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    dnnl_dims_t bd = {k, n};
    TRY(dnnl_memory_desc_init_by_tag(&p->b_md, 2, bd, dnnl_bf16, dnnl_ab), "B descriptor");
    for (int b = 0; b < p->blocks; b++) {
        int rows = (b + 1) * p->size < m ? p->size : m - b * p->size;
        dnnl_dims_t ad = {rows, k}, cd = {rows, n};
        TRY(dnnl_memory_desc_init_by_tag(&p->a_md[b], 2, ad, dnnl_bf16, dnnl_ab), "A descriptor");
        TRY(dnnl_memory_desc_init_by_tag(&p->c_md[b], 2, cd, dnnl_f32, dnnl_ab), "C descriptor");
        dnnl_matmul_desc_t md;
        TRY(dnnl_matmul_desc_init(&md, &p->a_md[b], &p->b_md, NULL, &p->c_md[b]), "matmul descriptor");
        dnnl_primitive_desc_t pd;
        TRY(dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL), "matmul primitive descriptor");
        if (b == 0) {
            const char *impl = NULL;
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
            snprintf(p->impl, sizeof p->impl, "%s", impl ? impl : "?");
        }
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        p->scratch[b] = smd ? dnnl_memory_desc_get_size(smd) : 0;
        dnnl_status_t s = dnnl_primitive_create(&p->prim[b], pd);
        dnnl_primitive_desc_destroy(pd);
        if (s != dnnl_success) { set_error(err, errlen, "matmul primitive", s); goto fail; }
    }
    dnnl_primitive_attr_destroy(attr);
    return p;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    cdnnl_matmul_destroy(p);
    return NULL;
}

int cdnnl_matmul_run(const cdnnl_matmul *p, int b, const uint16_t *a, const uint16_t *bm, float *c) {
    omp_set_num_threads(1);
    const int kinds[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[3] = {&p->a_md[b], &p->b_md, &p->c_md[b]};
    void *handles[3] = {(void *)(a + (size_t)b * p->size * p->k), (void *)bm, c + (size_t)b * p->size * p->n};
    dnnl_status_t st = run_primitive(p->prim[b], p->scratch[b], 3, kinds, mds, handles);
    return st == dnnl_success ? 0 : (int)st;
}

const char *cdnnl_matmul_impl(const cdnnl_matmul *p) { return p->impl; }

void cdnnl_matmul_destroy(cdnnl_matmul *p) {
    if (!p) return;
    for (int b = 0; b < 64; b++) if (p->prim[b]) dnnl_primitive_destroy(p->prim[b]);
    free(p);
}

// ---- conversions and the CPU ----

void cdnnl_f32_to_bf16(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { dst[i] = (uint16_t)((u >> 16) | 0x40); continue; }
        u += 0x7fffu + ((u >> 16) & 1u);
        dst[i] = (uint16_t)(u >> 16);
    }
}

void cdnnl_bf16_to_f32(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, 4);
    }
}

int cdnnl_effective_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

const char *cdnnl_isa_name(int isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

int cdnnl_isa_has_native_bf16(int isa) {
    return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

const char *cdnnl_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}
