/* Packed weight layouts: KERNELS_GROUP_ROWS (16) rows interleaved so that
 * SIMD code multiplies 16 rows at once, one row per 32-bit lane, with no
 * horizontal sums and with the scales of the 16 rows in one vector.
 *
 * A packed matrix is a sequence of groups of 16 rows (the last padded with
 * zero rows); a group is the sequence of its column blocks (the type's
 * block: 32 or 256 columns); each block of a group is laid out as below.
 * In every layout a "k-group" vector is 64 bytes holding 4 consecutive
 * elements of each of the 16 rows: byte 4r + i is element 4g + i of row r
 * (k-group g). Values are stored unsigned (u8), so that w = s * v + o with
 * a per-row, per-sub-block scale s and offset o. Scales stay in the file's
 * precision (fp16 bits), so a packed matrix is as large as the file's
 * (Q4_K: 2.8% larger, Q5_K 2.3%: their 6-bit scales unpacked to bytes).
 *
 *   Q8_0, 32 columns, 544 bytes:   fp16 d[16]; u8 q[8][64]    (v = q + 128)
 *   Q4_0 / IQ4_NL, 32, 288 bytes:  fp16 d[16]; u8 nib[4][64]
 *   Q5_0, 32, 352 bytes:           fp16 d[16]; u64 hbit[8]; u8 nib[4][64]
 *   Q4_K, 256, 2368 bytes:         fp16 d[16], dmin[16];
 *                                  8 x {u8 sc[16], m[16]; u8 nib[4][64]}
 *   Q5_K, 256, 2880 bytes:         fp16 d[16], dmin[16];
 *                                  8 x {u8 sc[16], m[16]; u8 nib[4][64]; u64 hbit[8]}
 *   Q6_K, 256, 3360 bytes:         fp16 d[16];
 *                                  8 x {i8 sc[2][16]; u8 nib[4][64]; u8 h2[2][64]}
 *   Q4_1, 32, 320 bytes:           fp16 d[16], m[16]; u8 nib[4][64]
 *   Q5_1, 32, 384 bytes:           fp16 d[16], m[16]; u64 hbit[8]; u8 nib[4][64]
 *   Q2_K, 256, 1344 bytes:         fp16 d[16], dmin[16]; 8 x {u8 scm[2][16]; u8 q2[2][64]}
 *   Q3_K, 256, 1824 bytes:         fp16 d[16];
 *                                  8 x {i8 sc[2][16]; u8 q2[2][64]; u64 hbit[8]}
 *   IQ4_XS, 256, 2208 bytes:       fp16 d[16]; i8 sc[8][16]; 8 x {u8 nib[4][64]}
 *
 * (Offsets: PK_* in kernels.h. Each block is read front to back, which
 * keeps the hardware prefetchers on one stream.)
 * nib[m] (per 32 columns) holds k-group m in its low nibbles and k-group
 * m + 4 in its high nibbles. hbit[g] bit 4r + i is bit 4 of element 4g + i
 * of row r. h2[j] holds bits 4-5 of k-groups 4j..4j+3 at bits 2u..2u+1 of
 * byte 4r + i (u = k-group - 4j). sc/m/d are indexed [sub-block][row].
 * q2[j] (Q2_K, Q3_K) holds bits 0-1 the way h2 holds bits 4-5; Q3_K's hbit
 * is bit 2 (v = q + 4 in 0..7, w = d * sc * (v - 4)). Q2_K keeps the
 * file's scale bytes (scale in the low nibble, min in the high one), so the
 * packed matrix is as large as the file's; Q3_K's and IQ4_XS's 6-bit scales
 * are unpacked to signed bytes (Q3_K 3.6% larger, IQ4_XS 1.5%). Q4_1 and
 * Q5_1 store w = d * v + m.
 * IQ4_NL and IQ4_XS nibbles index kvalues_iq4nl; the kernels map them to
 * kvalue + 128.
 *
 *   MLX4_G<G>, G columns, 128 + 8G bytes:   f32 scale[16], bias[16];
 *                                            G/32 x {u8 nib[4][64]}
 *   MLX8_G<G>, G columns, 128 + 16G bytes:  f32 scale[16], bias[16];
 *                                            G/32 x {u8 q[8][64]}
 *
 * The MLX types keep the file's f32 scale and bias (w = scale * v + bias,
 * v = q unsigned), so a packed matrix is as large as the file's. */
#include "kernels/kernels.h"

#include "core/core.h"
#include "quant/quant.h"

#include <stddef.h>
#include <string.h>

#define G KERNELS_GROUP_ROWS

/* Bytes of one block of a group; 0 for types without a packed layout. */
static size_t block_bytes(int type)
{
    int group = 0, bits = 0;
    if (quant_mlx_params(type, &group, &bits)) return PK_MLX_BYTES((size_t)group, (size_t)bits);
    switch (type) {
    case TK_TYPE_Q8_0:
        return PK_Q8_0_BYTES;
    case TK_TYPE_Q4_0:
    case TK_TYPE_IQ4_NL:
        return PK_Q4_0_BYTES;
    case TK_TYPE_Q5_0:
        return PK_Q5_0_BYTES;
    case TK_TYPE_Q4_K:
        return PK_Q4_K_BYTES;
    case TK_TYPE_Q5_K:
        return PK_Q5_K_BYTES;
    case TK_TYPE_Q6_K:
        return PK_Q6_K_BYTES;
    case TK_TYPE_Q4_1:
        return PK_Q4_1_BYTES;
    case TK_TYPE_Q5_1:
        return PK_Q5_1_BYTES;
    case TK_TYPE_Q2_K:
        return PK_Q2_K_BYTES;
    case TK_TYPE_Q3_K:
        return PK_Q3_K_BYTES;
    case TK_TYPE_IQ4_XS:
        return PK_IQ4_XS_BYTES;
    default:
        return 0;
    }
}

bool kernels_pack_supported(int type)
{
    return block_bytes(type) != 0;
}

size_t kernels_packed_bytes(int type, int64_t rows, int64_t cols)
{
    const tk_type_info *ti = tk_type_get(type);
    if (!ti || !block_bytes(type) || rows < 1 || cols % ti->block_size != 0) return 0;
    const uint64_t groups = (uint64_t)(rows + G - 1) / G;
    const uint64_t blocks = (uint64_t)(cols / ti->block_size);
    uint64_t n;
    if (!core_mul_u64(groups, blocks, &n) || !core_mul_u64(n, block_bytes(type), &n) ||
        n > SIZE_MAX)
        return 0;
    return (size_t)n;
}

/* Element values (unsigned) and scales of one block of one row. */
typedef struct unpacked {
    uint8_t v[256];
    uint16_t d, dmin;       /* fp16 bits; dmin is m for Q4_1, Q5_1 */
    int8_t sc6[16];         /* Q6_K, Q3_K (16), IQ4_XS (8) */
    uint8_t sc4[8], mn4[8]; /* Q4_K, Q5_K */
    uint8_t scm[16];        /* Q2_K: the file's scale bytes */
} unpacked;

static void unpack_block(int type, const uint8_t *src, unpacked *u)
{
    switch (type) {
    case TK_TYPE_Q8_0: {
        block_q8_0 b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        for (int i = 0; i < 32; i++) u->v[i] = (uint8_t)(b.qs[i] + 128);
        break;
    }
    case TK_TYPE_Q4_0:
    case TK_TYPE_IQ4_NL: {
        block_q4_0 b; /* IQ4_NL has the same layout */
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        for (int i = 0; i < 16; i++) {
            u->v[i] = b.qs[i] & 15;
            u->v[i + 16] = b.qs[i] >> 4;
        }
        break;
    }
    case TK_TYPE_Q5_0: {
        block_q5_0 b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        const uint32_t qh = (uint32_t)b.qh[0] | (uint32_t)b.qh[1] << 8 | (uint32_t)b.qh[2] << 16 |
                            (uint32_t)b.qh[3] << 24;
        for (int i = 0; i < 16; i++) {
            u->v[i] = (uint8_t)((b.qs[i] & 15) | ((qh >> i) & 1) << 4);
            u->v[i + 16] = (uint8_t)((b.qs[i] >> 4) | ((qh >> (i + 16)) & 1) << 4);
        }
        break;
    }
    case TK_TYPE_Q4_K: {
        block_q4_K b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        u->dmin = quant_le16(b.dmin);
        for (int j = 0; j < 8; j++) quant_get_scale_min_k4(j, b.scales, &u->sc4[j], &u->mn4[j]);
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 32; l++) {
                u->v[64 * j + l] = b.qs[32 * j + l] & 15;
                u->v[64 * j + 32 + l] = b.qs[32 * j + l] >> 4;
            }
        }
        break;
    }
    case TK_TYPE_Q5_K: {
        block_q5_K b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        u->dmin = quant_le16(b.dmin);
        for (int j = 0; j < 8; j++) quant_get_scale_min_k4(j, b.scales, &u->sc4[j], &u->mn4[j]);
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 32; l++) {
                const int h0 = (b.qh[l] >> (2 * j)) & 1, h1 = (b.qh[l] >> (2 * j + 1)) & 1;
                u->v[64 * j + l] = (uint8_t)((b.qs[32 * j + l] & 15) | h0 << 4);
                u->v[64 * j + 32 + l] = (uint8_t)((b.qs[32 * j + l] >> 4) | h1 << 4);
            }
        }
        break;
    }
    case TK_TYPE_Q6_K: {
        block_q6_K b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        memcpy(u->sc6, b.scales, 16);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int l = 0; l < 32; l++) {
                    const uint8_t ql = b.ql[64 * h + l + 32 * (k & 1)];
                    const int lo = k < 2 ? ql & 15 : ql >> 4;
                    const int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
                    u->v[128 * h + 32 * k + l] = (uint8_t)(lo | hi << 4);
                }
            }
        }
        break;
    }
    case TK_TYPE_Q4_1:
    case TK_TYPE_Q5_1: {
        /* Q4_1 is Q5_1 without qh: the fields up to qs line up. */
        block_q5_1 b;
        const bool five = type == TK_TYPE_Q5_1;
        memset(&b, 0, sizeof b);
        memcpy(&b, src, five ? sizeof b : offsetof(block_q5_1, qh));
        if (!five) memcpy(b.qs, src + offsetof(block_q4_1, qs), sizeof b.qs);
        u->d = quant_le16(b.d);
        u->dmin = quant_le16(b.m);
        const uint32_t qh = five ? (uint32_t)b.qh[0] | (uint32_t)b.qh[1] << 8 |
                                       (uint32_t)b.qh[2] << 16 | (uint32_t)b.qh[3] << 24
                                 : 0;
        for (int i = 0; i < 16; i++) {
            u->v[i] = (uint8_t)((b.qs[i] & 15) | ((qh >> i) & 1) << 4);
            u->v[i + 16] = (uint8_t)((b.qs[i] >> 4) | ((qh >> (i + 16)) & 1) << 4);
        }
        break;
    }
    case TK_TYPE_Q2_K: {
        block_q2_K b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        u->dmin = quant_le16(b.dmin);
        memcpy(u->scm, b.scales, 16);
        for (int e = 0; e < 256; e++)
            u->v[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        break;
    }
    case TK_TYPE_Q3_K: {
        block_q3_K b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        quant_q3_k_scales(b.scales, u->sc6);
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const int q = (b.qs[32 * h + l] >> (2 * j)) & 3;
            const int hb = (b.hmask[l] >> (4 * h + j)) & 1;
            u->v[e] = (uint8_t)(q | hb << 2);
        }
        break;
    }
    case TK_TYPE_IQ4_XS: {
        block_iq4_xs b;
        memcpy(&b, src, sizeof b);
        u->d = quant_le16(b.d);
        const unsigned sh = quant_le16(b.scales_h);
        for (int ib = 0; ib < 8; ib++) {
            const int ls =
                ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (int)(((sh >> (2 * ib)) & 3) << 4);
            u->sc6[ib] = (int8_t)(ls - 32);
            for (int j = 0; j < 16; j++) {
                u->v[32 * ib + j] = b.qs[16 * ib + j] & 15;
                u->v[32 * ib + j + 16] = b.qs[16 * ib + j] >> 4;
            }
        }
        break;
    }
    default:
        break;
    }
}

/* The nibble vectors of one 32-column sub-block: v holds its 32 values of
 * row r at v[r][0..31]. */
static void put_nibbles(uint8_t *nib, uint8_t v[G][32])
{
    for (int m = 0; m < 4; m++)
        for (int r = 0; r < G; r++)
            for (int i = 0; i < 4; i++)
                nib[64 * m + 4 * r + i] =
                    (uint8_t)((v[r][4 * m + i] & 15) | (v[r][16 + 4 * m + i] & 15) << 4);
}

/* The masks of bit `bit` of one 32-column sub-block (hbit[8], see above). */
static void put_hbits(uint8_t *hb, uint8_t v[G][32], int bit)
{
    for (int g = 0; g < 8; g++) {
        uint64_t bits = 0;
        for (int r = 0; r < G; r++)
            for (int i = 0; i < 4; i++)
                bits |= (uint64_t)((v[r][4 * g + i] >> bit) & 1) << (4 * r + i);
        for (int k = 0; k < 8; k++) hb[8 * g + k] = (uint8_t)(bits >> (8 * k));
    }
}

/* Bits shift..shift+1 of the values of one 32-column sub-block, in the
 * two-bit layout of h2 / q2 (see above). */
static void put_2bits(uint8_t *dst, uint8_t v[G][32], int shift)
{
    for (int j = 0; j < 2; j++)
        for (int r = 0; r < G; r++)
            for (int i = 0; i < 4; i++) {
                int byte = 0;
                for (int t = 0; t < 4; t++)
                    byte |= ((v[r][4 * (4 * j + t) + i] >> shift) & 3) << (2 * t);
                dst[64 * j + 4 * r + i] = (uint8_t)byte;
            }
}

static void put_half(uint8_t *dst, int r, uint16_t h)
{
    dst[2 * r] = (uint8_t)(h & 0xFF);
    dst[2 * r + 1] = (uint8_t)(h >> 8);
}

/* The legacy 32-blocks have byte-aligned layouts that map to the packed
 * one by copying 4-byte pieces; done directly, as packing runs over the
 * whole model at load time. Returns false for other types. */
static bool pack_block_fast(int type, const uint8_t *const rows[G], int n, size_t sbb, int64_t cb,
                            uint8_t *dst)
{
    size_t qs_off;
    switch (type) {
    case TK_TYPE_Q8_0:
        qs_off = offsetof(block_q8_0, qs);
        break;
    case TK_TYPE_Q4_0:
        qs_off = offsetof(block_q4_0, qs);
        break;
    case TK_TYPE_IQ4_NL:
        qs_off = offsetof(block_iq4_nl, qs);
        break;
    case TK_TYPE_Q5_0:
        qs_off = offsetof(block_q5_0, qs);
        break;
    case TK_TYPE_Q4_1:
        qs_off = offsetof(block_q4_1, qs);
        break;
    case TK_TYPE_Q5_1:
        qs_off = offsetof(block_q5_1, qs);
        break;
    default:
        return false;
    }
    const int groups = type == TK_TYPE_Q8_0 ? 8 : 4; /* 4-byte pieces of qs per row */
    const bool has_m = type == TK_TYPE_Q4_1 || type == TK_TYPE_Q5_1;
    /* The high bits: the 32-bit qh after d (and m), and where they go. */
    size_t qh_off = 0, hbit_off = 0, vals_off = PK_Q4_0_NIB;
    if (type == TK_TYPE_Q5_0) {
        qh_off = offsetof(block_q5_0, qh);
        hbit_off = PK_Q5_0_HBIT;
        vals_off = PK_Q5_0_NIB;
    } else if (type == TK_TYPE_Q5_1) {
        qh_off = offsetof(block_q5_1, qh);
        hbit_off = PK_Q5_1_HBIT;
        vals_off = PK_Q5_1_NIB;
    } else if (type == TK_TYPE_Q4_1) {
        vals_off = PK_Q4_1_NIB;
    }
    uint8_t *vals = dst + vals_off;
    memset(dst, 0, block_bytes(type));
    if (type == TK_TYPE_Q8_0) memset(vals, 0x80, 512); /* missing rows: q = 0 */
    uint64_t hbit[8] = {0};
    for (int r = 0; r < n; r++) {
        const uint8_t *b = rows[r] + (size_t)cb * sbb;
        dst[2 * r] = b[0]; /* fp16 d, little-endian as stored */
        dst[2 * r + 1] = b[1];
        if (has_m) {
            dst[PK_Q4_1_M + 2 * r] = b[2];
            dst[PK_Q4_1_M + 2 * r + 1] = b[3];
        }
        for (int g = 0; g < groups; g++) {
            uint8_t *o = vals + 64 * g + 4 * r;
            memcpy(o, b + qs_off + 4 * g, 4);
            if (type == TK_TYPE_Q8_0)
                for (int i = 0; i < 4; i++) o[i] ^= 0x80;
        }
        if (hbit_off) {
            const uint8_t *h = b + qh_off;
            const uint32_t qh =
                (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
            for (int g = 0; g < 8; g++) hbit[g] |= (uint64_t)((qh >> (4 * g)) & 15) << (4 * r);
        }
    }
    if (hbit_off)
        for (int g = 0; g < 8; g++)
            for (int k = 0; k < 8; k++) dst[hbit_off + 8 * g + k] = (uint8_t)(hbit[g] >> (8 * k));
    return true;
}

/* The MLX types: scale and bias bytes copied, the values regrouped into
 * k-group vectors. Missing rows are all zero (w = 0). */
static void pack_block_mlx(int group, int bits, const uint8_t *const rows[G], int n, size_t sbb,
                           int64_t cb, uint8_t *dst)
{
    memset(dst, 0, PK_MLX_BYTES((size_t)group, (size_t)bits));
    uint8_t v[G][32];
    for (int s = 0; s < group / 32; s++) {
        memset(v, 0, sizeof v);
        for (int r = 0; r < n; r++) {
            const uint8_t *b = rows[r] + (size_t)cb * sbb;
            if (s == 0) {
                memcpy(dst + PK_MLX_SCALE + 4 * r, b, 4);
                memcpy(dst + PK_MLX_BIAS + 4 * r, b + 4, 4);
            }
            for (int e = 0; e < 32; e++) {
                const int j = 32 * s + e;
                v[r][e] = bits == 4 ? (uint8_t)((b[8 + j / 2] >> (4 * (j % 2))) & 15) : b[8 + j];
            }
        }
        uint8_t *q = dst + PK_MLX_Q(bits, s);
        if (bits == 4) {
            put_nibbles(q, v);
        } else {
            for (int g = 0; g < 8; g++)
                for (int r = 0; r < G; r++) memcpy(q + 64 * g + 4 * r, &v[r][4 * g], 4);
        }
    }
}

/* Packs one block (column block `cb`) of one group whose rows are
 * rows[0..n) (n <= G; missing rows are zero). */
static void pack_block(int type, const uint8_t *const rows[G], int n, size_t src_block_bytes,
                       int64_t cb, uint8_t *dst)
{
    unpacked uu[G];
    memset(uu, 0, sizeof uu);
    for (int r = 0; r < n; r++) unpack_block(type, rows[r] + (size_t)cb * src_block_bytes, &uu[r]);
    memset(dst, 0, block_bytes(type));
    for (int r = 0; r < G; r++) put_half(dst, r, uu[r].d);
    uint8_t v[G][32];
    switch (type) {
    case TK_TYPE_Q8_0:
        for (int g = 0; g < 8; g++)
            for (int r = 0; r < G; r++)
                for (int i = 0; i < 4; i++)
                    dst[PK_Q8_0_Q + 64 * g + 4 * r + i] = r < n ? uu[r].v[4 * g + i] : 128;
        break;
    case TK_TYPE_Q4_0:
    case TK_TYPE_IQ4_NL:
        for (int r = 0; r < G; r++) memcpy(v[r], uu[r].v, 32);
        put_nibbles(dst + PK_Q4_0_NIB, v);
        break;
    case TK_TYPE_Q5_0:
        for (int r = 0; r < G; r++) memcpy(v[r], uu[r].v, 32);
        put_hbits(dst + PK_Q5_0_HBIT, v, 4);
        put_nibbles(dst + PK_Q5_0_NIB, v);
        break;
    case TK_TYPE_Q4_K:
        for (int r = 0; r < G; r++) put_half(dst + PK_Q4_K_DMIN, r, uu[r].dmin);
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) {
                dst[PK_Q4_K_SC(s) + r] = uu[r].sc4[s];
                dst[PK_Q4_K_MIN(s) + r] = uu[r].mn4[s];
                memcpy(v[r], uu[r].v + 32 * s, 32);
            }
            put_nibbles(dst + PK_Q4_K_NIB(s), v);
        }
        break;
    case TK_TYPE_Q5_K:
        for (int r = 0; r < G; r++) put_half(dst + PK_Q5_K_DMIN, r, uu[r].dmin);
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) {
                dst[PK_Q5_K_SC(s) + r] = uu[r].sc4[s];
                dst[PK_Q5_K_MIN(s) + r] = uu[r].mn4[s];
                memcpy(v[r], uu[r].v + 32 * s, 32);
            }
            put_nibbles(dst + PK_Q5_K_NIB(s), v);
            put_hbits(dst + PK_Q5_K_HBIT(s), v, 4);
        }
        break;
    case TK_TYPE_Q6_K:
        for (int s = 0; s < 16; s++)
            for (int r = 0; r < G; r++) dst[PK_Q6_K_SC(s) + r] = (uint8_t)uu[r].sc6[s];
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) memcpy(v[r], uu[r].v + 32 * s, 32);
            put_nibbles(dst + PK_Q6_K_NIB(s), v);
            put_2bits(dst + PK_Q6_K_H2(s), v, 4);
        }
        break;
    case TK_TYPE_Q4_1:
    case TK_TYPE_Q5_1:
        for (int r = 0; r < G; r++) {
            put_half(dst + PK_Q4_1_M, r, uu[r].dmin);
            memcpy(v[r], uu[r].v, 32);
        }
        if (type == TK_TYPE_Q5_1) {
            put_hbits(dst + PK_Q5_1_HBIT, v, 4);
            put_nibbles(dst + PK_Q5_1_NIB, v);
        } else {
            put_nibbles(dst + PK_Q4_1_NIB, v);
        }
        break;
    case TK_TYPE_Q2_K:
        for (int r = 0; r < G; r++) put_half(dst + PK_Q2_K_DMIN, r, uu[r].dmin);
        for (int s = 0; s < 16; s++)
            for (int r = 0; r < G; r++) dst[PK_Q2_K_SC(s) + r] = uu[r].scm[s];
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) memcpy(v[r], uu[r].v + 32 * s, 32);
            put_2bits(dst + PK_Q2_K_Q(s), v, 0);
        }
        break;
    case TK_TYPE_Q3_K:
        for (int s = 0; s < 16; s++)
            for (int r = 0; r < G; r++) dst[PK_Q3_K_SC(s) + r] = (uint8_t)uu[r].sc6[s];
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) memcpy(v[r], uu[r].v + 32 * s, 32);
            put_2bits(dst + PK_Q3_K_Q(s), v, 0);
            put_hbits(dst + PK_Q3_K_HBIT(s), v, 2);
        }
        break;
    case TK_TYPE_IQ4_XS:
        for (int s = 0; s < 8; s++) {
            for (int r = 0; r < G; r++) {
                dst[PK_IQ4_XS_SC(s) + r] = (uint8_t)uu[r].sc6[s];
                memcpy(v[r], uu[r].v + 32 * s, 32);
            }
            put_nibbles(dst + PK_IQ4_XS_NIB(s), v);
        }
        break;
    default:
        break;
    }
}

void kernels_pack(int type, const void *src, size_t row_bytes, int64_t rows, int64_t cols,
                  int64_t g0, int64_t g1, void *dst)
{
    const tk_type_info *ti = tk_type_get(type);
    const int64_t nblocks = cols / ti->block_size;
    const size_t bb = block_bytes(type);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *rp[G];
        int n = 0;
        for (int r = 0; r < G && g * G + r < rows; r++, n++)
            rp[r] = (const uint8_t *)src + (size_t)(g * G + r) * row_bytes;
        uint8_t *out = (uint8_t *)dst + (size_t)g * (size_t)nblocks * bb;
        int group = 0, bits = 0;
        const bool mlx = quant_mlx_params(type, &group, &bits);
        for (int64_t b = 0; b < nblocks; b++) {
            if (mlx)
                pack_block_mlx(group, bits, rp, n, ti->block_bytes, b, out + b * bb);
            else if (!pack_block_fast(type, rp, n, ti->block_bytes, b, out + b * bb))
                pack_block(type, rp, n, ti->block_bytes, b, out + b * bb);
        }
    }
}

/* The value (unsigned, as packed) of element e (0..31) of row r in the
 * nibble vectors of a 32-column sub-block. */
static int nib_at(const uint8_t *nib, int r, int e)
{
    const int g = e / 4, i = e % 4;
    const uint8_t b = nib[64 * (g % 4) + 4 * r + i];
    return g < 4 ? b & 15 : b >> 4;
}

/* Bit `e % 4` of row r in the mask of k-group e / 4 (hbit[8] at hb). */
static int hbit_at(const uint8_t *hb, int r, int e)
{
    const int bit = 4 * r + e % 4;
    return (hb[8 * (e / 4) + bit / 8] >> (bit % 8)) & 1;
}

/* The two bits of element e (0..31) of row r in the q2 / h2 layout. */
static int bits2_at(const uint8_t *q2, int r, int e)
{
    const int g = e / 4;
    return (q2[64 * (g / 4) + 4 * r + e % 4] >> (2 * (g % 4))) & 3;
}

static float half_at(const uint8_t *p, int r)
{
    return tk_fp16_to_fp32((uint16_t)(p[2 * r] | p[2 * r + 1] << 8));
}

void kernels_unpack_row(int type, const void *packed, int64_t cols, int64_t row, float *out)
{
    const tk_type_info *ti = tk_type_get(type);
    const int64_t nblocks = cols / ti->block_size;
    const size_t bb = block_bytes(type);
    const int r = (int)(row % G);
    const uint8_t *grp = (const uint8_t *)packed + (size_t)(row / G) * (size_t)nblocks * bb;
    int group = 0, bits = 0;
    if (quant_mlx_params(type, &group, &bits)) {
        for (int64_t b = 0; b < nblocks; b++) {
            const uint8_t *blk = grp + (size_t)b * bb;
            const float scale = quant_le_f32(blk + PK_MLX_SCALE + 4 * r);
            const float bias = quant_le_f32(blk + PK_MLX_BIAS + 4 * r);
            float *y = out + b * group;
            for (int e = 0; e < group; e++) {
                const uint8_t *q = blk + PK_MLX_Q(bits, e / 32);
                const int v =
                    bits == 4 ? nib_at(q, r, e % 32) : q[64 * (e % 32 / 4) + 4 * r + e % 4];
                /* quant_mlx.c's arithmetic: the product rounded, then the
                 * sum (two statements, never fused) */
                const float p = scale * (float)v;
                y[e] = p + bias;
            }
        }
        return;
    }
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = grp + (size_t)b * bb;
        float *y = out + b * ti->block_size;
        const float d = half_at(blk, r);
        /* The arithmetic of each type's reference dequantize, so the
         * values are the same floats. */
        switch (type) {
        case TK_TYPE_Q8_0:
            for (int e = 0; e < 32; e++)
                y[e] = d * (float)(blk[PK_Q8_0_Q + 64 * (e / 4) + 4 * r + e % 4] - 128);
            break;
        case TK_TYPE_Q4_0:
            for (int e = 0; e < 32; e++) y[e] = d * (float)(nib_at(blk + PK_Q4_0_NIB, r, e) - 8);
            break;
        case TK_TYPE_IQ4_NL:
            for (int e = 0; e < 32; e++)
                y[e] = d * (float)kvalues_iq4nl[nib_at(blk + PK_Q4_0_NIB, r, e)];
            break;
        case TK_TYPE_Q5_0:
            for (int e = 0; e < 32; e++) {
                const uint8_t *hb = blk + PK_Q5_0_HBIT + 8 * (e / 4);
                const int bit = 4 * r + e % 4;
                const int h = (hb[bit / 8] >> (bit % 8)) & 1;
                y[e] = d * (float)((nib_at(blk + PK_Q5_0_NIB, r, e) | h << 4) - 16);
            }
            break;
        case TK_TYPE_Q4_K: {
            const float dmin = half_at(blk + PK_Q4_K_DMIN, r);
            for (int s = 0; s < 8; s++) {
                const float d1 = d * (float)blk[PK_Q4_K_SC(s) + r];
                const float m1 = dmin * (float)blk[PK_Q4_K_MIN(s) + r];
                for (int e = 0; e < 32; e++)
                    y[32 * s + e] = d1 * (float)nib_at(blk + PK_Q4_K_NIB(s), r, e) - m1;
            }
            break;
        }
        case TK_TYPE_Q5_K: {
            const float dmin = half_at(blk + PK_Q5_K_DMIN, r);
            for (int s = 0; s < 8; s++) {
                const float d1 = d * (float)blk[PK_Q5_K_SC(s) + r];
                const float m1 = dmin * (float)blk[PK_Q5_K_MIN(s) + r];
                for (int e = 0; e < 32; e++) {
                    const uint8_t *hb = blk + PK_Q5_K_HBIT(s) + 8 * (e / 4);
                    const int bit = 4 * r + e % 4;
                    const int h = (hb[bit / 8] >> (bit % 8)) & 1;
                    y[32 * s + e] = d1 * (float)(nib_at(blk + PK_Q5_K_NIB(s), r, e) | h << 4) - m1;
                }
            }
            break;
        }
        case TK_TYPE_Q6_K:
            for (int s = 0; s < 8; s++) {
                for (int e = 0; e < 32; e++) {
                    const int g = e / 4;
                    const uint8_t h2 = blk[PK_Q6_K_H2(s) + 64 * (g / 4) + 4 * r + e % 4];
                    const int q = nib_at(blk + PK_Q6_K_NIB(s), r, e) | ((h2 >> (2 * (g % 4))) & 3)
                                                                           << 4;
                    const int8_t sc = (int8_t)blk[PK_Q6_K_SC(2 * s + e / 16) + r];
                    y[32 * s + e] = d * (float)sc * (float)(q - 32);
                }
            }
            break;
        case TK_TYPE_Q4_1: {
            const float m = half_at(blk + PK_Q4_1_M, r);
            for (int e = 0; e < 32; e++) y[e] = d * (float)nib_at(blk + PK_Q4_1_NIB, r, e) + m;
            break;
        }
        case TK_TYPE_Q5_1: {
            const float m = half_at(blk + PK_Q5_1_M, r);
            for (int e = 0; e < 32; e++) {
                const int h = hbit_at(blk + PK_Q5_1_HBIT, r, e);
                y[e] = d * (float)(nib_at(blk + PK_Q5_1_NIB, r, e) | h << 4) + m;
            }
            break;
        }
        case TK_TYPE_Q2_K: {
            const float dmin = half_at(blk + PK_Q2_K_DMIN, r);
            for (int s = 0; s < 8; s++)
                for (int e = 0; e < 32; e++) {
                    const uint8_t sc = blk[PK_Q2_K_SC(2 * s + e / 16) + r];
                    const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
                    y[32 * s + e] = dl * (float)bits2_at(blk + PK_Q2_K_Q(s), r, e) - ml;
                }
            break;
        }
        case TK_TYPE_Q3_K:
            for (int s = 0; s < 8; s++)
                for (int e = 0; e < 32; e++) {
                    const int8_t sc = (int8_t)blk[PK_Q3_K_SC(2 * s + e / 16) + r];
                    const int q = bits2_at(blk + PK_Q3_K_Q(s), r, e) |
                                  hbit_at(blk + PK_Q3_K_HBIT(s), r, e) << 2;
                    y[32 * s + e] = d * (float)sc * (float)(q - 4);
                }
            break;
        case TK_TYPE_IQ4_XS:
            for (int s = 0; s < 8; s++) {
                const float dl = d * (float)(int8_t)blk[PK_IQ4_XS_SC(s) + r];
                for (int e = 0; e < 32; e++)
                    y[32 * s + e] = dl * (float)kvalues_iq4nl[nib_at(blk + PK_IQ4_XS_NIB(s), r, e)];
            }
            break;
        default:
            break;
        }
    }
}
