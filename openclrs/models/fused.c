/* Fused evaluation kernels of openclrs.models.kernels (forward only, float32).

   Compiled on first use by openclrs/models/fused.py with the system C compiler
   (cc -O3 -march=native -ffp-contract=off: IEEE float32, no fused multiply-add,
   no -ffast-math) and called through ctypes, which
   releases the GIL: kernels.share_out's worker threads run these in parallel.
   Plain C, no Python or torch headers: pointers and sizes only.

   Both kernels refuse (return 1, having written nothing) when an operand holds
   a value that is not finite; the caller then takes torch's path, whose NaN
   and infinity rules (torch.maximum propagates NaN) these loops do not copy.

   openclrs_max_score: the edge-pointer decoder's scores, without the
       (rows, k, h) tensor of maxima that torch writes and reads back:
           out[r, c] = sum_j w[j] * max(a[r, j], t[c, j]) + bias
       a (rows, h), t (k, h), w (h), out (rows, k), all contiguous.
       The products are rounded, then summed in gemv's order (score_block):
       where torch's path meets the same gemv code, the same bits.

   openclrs_max_over_i: the triplet processor's max over i, feature-major:
           out[f, j, c] = max_i (a[f, i, j] + x[f, i, c])
       a (nf, ni, nj), x (nf, ni, nk), out (nf, nj, nk), all contiguous.
       Each sum is one float32 addition and the maxima are taken in the
       order of torch's loop (i = 0, 1, ...; kernels.MaxOverI.values), a tie
       going to the later operand as in torch.maximum's vector code (which
       matters for +0 against -0 only): the same bits. */

#include <stdlib.h>
#include <string.h>

typedef long long idx;   /* counts and indices: 64 bits (long is 32 on some systems) */

/* register block: RB rows of a against KB candidates at a time */
#define RB 8
#define KB 32

static int all_finite(const float *x, idx count)
{
    /* an exponent of all ones is an infinity or a NaN (integer operations:
       the compiler vectorises this loop without reassociating floats) */
    unsigned bad = 0;
    for (idx i = 0; i < count; i++) {
        unsigned bits;
        memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static inline float larger(float x, float y) { return x > y ? x : y; }

/* acc[r][c] += w[j] * max(a[r * h + j], tt[j * kp + c]) for j = j0, j0 + stride, ...
   below end, in that order (a product, then a sum: no fused multiply-add), for RB
   rows and KB candidates; tt is t transposed, kp candidates per row. */
static inline void chain(const float *restrict a, const float *restrict tt, idx kp,
                         const float *restrict w, idx h, idx j0, idx end, idx stride,
                         float acc[RB][KB])
{
    float s[RB][KB];
    memcpy(s, acc, sizeof s);
    for (idx j = j0; j < end; j += stride) {
        const float *restrict tj = tt + j * kp;
        const float wj = w[j];
        for (int r = 0; r < RB; r++) {
            const float x = a[r * h + j];
            for (int c = 0; c < KB; c++) {
                const float product = wj * larger(x, tj[c]);
                s[r][c] = s[r][c] + product;
            }
        }
    }
    memcpy(acc, s, sizeof s);
}

/* s[r][c] = sum_j w[j] * max(a[r * h + j], tt[j * kp + c]) for RB rows and KB
   candidates, summed in the order of the gemv that torch's path calls here
   (MKL's sgemv on this project's machine, found by experiment): four running
   sums, the first over j = 0, 1, 2, 3 and then j = 4, 8, 12, ..., the others
   over j = 4 + l, 8 + l, ... (l = 1, 2, 3), combined as
   (sum0 + sum2) + (sum1 + sum3). Where torch's path meets the same gemv code
   (h a multiple of 4, rows in full groups of 4 of the product), the scores
   are the same bits; elsewhere they agree to rounding. */
static void score_block(const float *restrict a, const float *restrict tt, idx kp,
                        const float *restrict w, idx h, float s[RB][KB])
{
    float lane[4][RB][KB];
    memset(lane, 0, sizeof lane);
    chain(a, tt, kp, w, h, 0, h < 4 ? h : 4, 1, lane[0]);
    for (int l = 0; l < 4; l++)
        chain(a, tt, kp, w, h, 4 + l, h, 4, lane[l]);
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < KB; c++)
            s[r][c] = (lane[0][r][c] + lane[2][r][c]) + (lane[1][r][c] + lane[3][r][c]);
}

int openclrs_max_score(const float *a, const float *t, const float *w, float bias,
                       float *out, idx rows, idx k, idx h)
{
    if (!all_finite(a, rows * h) || !all_finite(t, k * h) || !all_finite(w, h) ||
        !all_finite(&bias, 1))
        return 1;
    const idx kp = (k + KB - 1) / KB * KB;
    /* t transposed to (h, kp), padded with zeros; RB rows of a, zero-padded
       when fewer remain */
    float *tt = calloc((size_t)(h * kp + RB * h), sizeof(float));
    if (!tt)
        return 2;
    float *pad = tt + h * kp;
    for (idx c = 0; c < k; c++)
        for (idx j = 0; j < h; j++)
            tt[j * kp + c] = t[c * h + j];
    float s[RB][KB];
    for (idx r0 = 0; r0 < rows; r0 += RB) {
        const idx nr = rows - r0 < RB ? rows - r0 : RB;
        const float *rows_a = a + r0 * h;
        if (nr < RB) {
            memcpy(pad, rows_a, (size_t)(nr * h) * sizeof(float));
            rows_a = pad;
        }
        for (idx c0 = 0; c0 < kp; c0 += KB) {
            score_block(rows_a, tt + c0, kp, w, h, s);
            const idx nc = k - c0 < KB ? k - c0 : KB;
            for (idx r = 0; r < nr; r++)
                for (idx c = 0; c < nc; c++)
                    out[(r0 + r) * k + c0 + c] = s[r][c] + bias;
        }
    }
    free(tt);
    return 0;
}

int openclrs_max_over_i(const float *a, const float *x, float *out,
                        idx nf, idx ni, idx nj, idx nk)
{
    if (ni <= 0)      /* no maximum over nothing: the caller's torch path says so */
        return 1;
    if (!all_finite(a, nf * ni * nj) || !all_finite(x, nf * ni * nk))
        return 1;
    for (idx f = 0; f < nf; f++) {
        const float *af = a + f * ni * nj, *xf = x + f * ni * nk;
        for (idx j = 0; j < nj; j++) {
            float *restrict o = out + (f * nj + j) * nk;
            const float a0 = af[j];
            for (idx c = 0; c < nk; c++)
                o[c] = a0 + xf[c];
            for (idx i = 1; i < ni; i++) {
                const float ai = af[i * nj + j];
                const float *restrict xi = xf + i * nk;
                for (idx c = 0; c < nk; c++)
                    o[c] = larger(o[c], ai + xi[c]);
            }
        }
    }
    return 0;
}
