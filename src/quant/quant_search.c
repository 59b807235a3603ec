/* Scale searches shared by the quantizers.
 *
 * Every quantizer here minimises the plain squared error of a block: for a
 * candidate scale the integer codes are the rounded x/s, and for fixed codes
 * the best scale (and min) is a least-squares fit. We try a small grid of
 * candidate scales around the "largest value maps to the end of the range"
 * choice, keep the best, and then alternate re-rounding and refitting
 * (Lloyd iterations) on it; each such step can only lower the error. */
#include "quant/quant.h"

#include <math.h>

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};

#define SEARCH_MAX_N 256
#define LLOYD_STEPS  3

float quant_search_sym(int n, const float *x, int qmin, int qmax, int ntry, int8_t *L)
{
    memset(L, 0, (size_t)n); /* defined codes even when no candidate is accepted (NaN input) */
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) {
            amax = a;
            max = x[i];
        }
    }
    if (!(amax > 1e-30f)) return 0; /* zero (or denormal-only / NaN) block */
    /* map `max` to the longer end of the range (qmin, negative) */
    float nmax = (float)-qmin;
    float best_score = -1, best_s = 0;
    int8_t cur[SEARCH_MAX_N];
    for (int is = -ntry; is <= ntry; is++) {
        float iscale = -(nmax + 0.1f * (float)is) / max;
        float sumlx = 0, sumll = 0;
        for (int i = 0; i < n; i++) {
            int l = quant_round_clamp(iscale * x[i], qmin, qmax);
            cur[i] = (int8_t)l;
            sumlx += x[i] * (float)l;
            sumll += (float)(l * l);
        }
        /* error = sum x^2 - sumlx^2 / sumll: maximise sumlx^2 / sumll */
        if (sumll > 0 && sumlx * sumlx > best_score * sumll) {
            best_score = sumlx * sumlx / sumll;
            best_s = sumlx / sumll;
            memcpy(L, cur, (size_t)n);
        }
    }
    if (best_s == 0) return 0;
    for (int it = 0; it < LLOYD_STEPS; it++) {
        float iscale = 1.0f / best_s, sumlx = 0, sumll = 0;
        bool changed = false;
        for (int i = 0; i < n; i++) {
            int l = quant_round_clamp(iscale * x[i], qmin, qmax);
            cur[i] = (int8_t)l;
            changed |= l != L[i];
            sumlx += x[i] * (float)l;
            sumll += (float)(l * l);
        }
        if (!changed || !(sumll > 0) || !(sumlx * sumlx > best_score * sumll)) break;
        best_score = sumlx * sumlx / sumll;
        best_s = sumlx / sumll;
        memcpy(L, cur, (size_t)n);
    }
    return best_s;
}

/* Least-squares (s, m) for fixed codes; returns the squared error. */
static float fit_asym(int n, const float *x, const uint8_t *L, bool min_le_zero, float sum_x,
                      float sum_x2, float *s_out, float *m_out)
{
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
        float l = (float)L[i];
        sum_l += l;
        sum_l2 += l * l;
        sum_xl += x[i] * l;
    }
    float fn = (float)n, s, m;
    float det = fn * sum_l2 - sum_l * sum_l;
    if (det > 0) {
        s = (fn * sum_xl - sum_l * sum_x) / det;
        m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    } else {
        s = 0;
        m = sum_x / fn;
    }
    if (min_le_zero && m > 0) {
        m = 0;
        s = sum_l2 > 0 ? sum_xl / sum_l2 : 0;
    }
    if (s < 0) { /* codes anti-correlated with x: only a constant fits */
        s = 0;
        m = min_le_zero ? fminf(sum_x / fn, 0.0f) : sum_x / fn;
    }
    *s_out = s;
    *m_out = m;
    /* sum (s*l + m - x)^2 expanded; clamp rounding noise below zero */
    float err =
        sum_x2 + s * s * sum_l2 + fn * m * m + 2 * s * m * sum_l - 2 * s * sum_xl - 2 * m * sum_x;
    return err > 0 ? err : 0;
}

float quant_search_asym(int n, const float *x, int qmax, bool min_le_zero, int nstep, float rmin,
                        float rdelta, uint8_t *L, float *m_out)
{
    memset(L, 0, (size_t)n);
    float xmin = x[0], xmax = x[0], sum_x = 0, sum_x2 = 0;
    for (int i = 0; i < n; i++) {
        xmin = x[i] < xmin ? x[i] : xmin;
        xmax = x[i] > xmax ? x[i] : xmax;
        sum_x += x[i];
        sum_x2 += x[i] * x[i];
    }
    if (min_le_zero && xmin > 0) xmin = 0;
    if (!(xmax - xmin > 1e-30f)) { /* constant block (or NaN): x = m */
        *m_out = xmin;
        return 0;
    }
    uint8_t cur[SEARCH_MAX_N];
    float range = xmax - xmin;
    float best_err = INFINITY, best_s = 0, best_m = xmin;
    for (int is = -1; is <= nstep; is++) {
        /* is == -1: the plain min/max mapping */
        float iscale =
            is < 0 ? (float)qmax / range : (rmin + rdelta * (float)is + (float)qmax) / range;
        for (int i = 0; i < n; i++)
            cur[i] = (uint8_t)quant_round_clamp(iscale * (x[i] - xmin), 0, qmax);
        float s, m;
        float err = fit_asym(n, x, cur, min_le_zero, sum_x, sum_x2, &s, &m);
        if (err < best_err) {
            best_err = err;
            best_s = s;
            best_m = m;
            memcpy(L, cur, (size_t)n);
        }
    }
    for (int it = 0; it < LLOYD_STEPS && best_s > 0; it++) {
        float iscale = 1.0f / best_s;
        bool changed = false;
        for (int i = 0; i < n; i++) {
            cur[i] = (uint8_t)quant_round_clamp(iscale * (x[i] - best_m), 0, qmax);
            changed |= cur[i] != L[i];
        }
        if (!changed) break;
        float s, m;
        float err = fit_asym(n, x, cur, min_le_zero, sum_x, sum_x2, &s, &m);
        if (!(err < best_err)) break;
        best_err = err;
        best_s = s;
        best_m = m;
        memcpy(L, cur, (size_t)n);
    }
    *m_out = best_m;
    return best_s;
}

/* Midpoints between neighbouring levels: the nearest level of v is the
 * number of midpoints below it (a tie goes to the lower level). */
static const float iq4_mid[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};

int quant_iq4_index(float v)
{
    /* branchless: 15 compares beat a mispredicted binary search */
    int k = 0;
    for (int i = 0; i < 15; i++) k += v > iq4_mid[i];
    return k; /* NaN compares false everywhere: 0 */
}

float quant_search_iq4(int n, const float *x, int ntry, uint8_t *L)
{
    memset(L, 0, (size_t)n);
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) {
            amax = a;
            max = x[i];
        }
    }
    if (!(amax > 1e-30f)) return 0;
    uint8_t cur[SEARCH_MAX_N];
    float best_score = -1, best_s = 0;
    /* candidates: `max` lands on the level -127 (+- a few units) */
    for (int is = -ntry; is <= ntry; is++) {
        float iscale = ((float)kvalues_iq4nl[0] + (float)is) / max;
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < n; i++) {
            int k = quant_iq4_index(iscale * x[i]);
            cur[i] = (uint8_t)k;
            float q = (float)kvalues_iq4nl[k];
            sumqx += q * x[i];
            sumq2 += q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
            best_score = sumqx * sumqx / sumq2;
            best_s = sumqx / sumq2;
            memcpy(L, cur, (size_t)n);
        }
    }
    if (best_s == 0) return 0;
    for (int it = 0; it < LLOYD_STEPS; it++) {
        float iscale = 1.0f / best_s, sumqx = 0, sumq2 = 0;
        bool changed = false;
        for (int i = 0; i < n; i++) {
            int k = quant_iq4_index(iscale * x[i]);
            cur[i] = (uint8_t)k;
            changed |= k != L[i];
            float q = (float)kvalues_iq4nl[k];
            sumqx += q * x[i];
            sumq2 += q * q;
        }
        if (!changed || !(sumq2 > 0) || !(sumqx * sumqx > best_score * sumq2)) break;
        best_score = sumqx * sumqx / sumq2;
        best_s = sumqx / sumq2;
        memcpy(L, cur, (size_t)n);
    }
    return best_s;
}
