/* Finding values that are not finite in stored tensors, without decoding
 * them: a float type is checked element by element (an exponent field of
 * all ones is NaN or an infinity); a block type through its scales only,
 * since a finite scale times the block's small integers is always finite.
 * Every byte read is inside the n elements' blocks. */
#include "quant/quant.h"

#include <stddef.h>
#include <string.h>

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return quant_le16(v);
}

static bool half_bad(const uint8_t *p)
{
    return (load16(p) & 0x7c00u) == 0x7c00u;
}

/* The fp16 scale fields of a block type: their offsets in the block. */
typedef struct scale_fields {
    size_t off[2];
    int n;
} scale_fields;

static bool block_scales(int type, scale_fields *f)
{
    switch (type) {
    case TK_TYPE_Q4_0:
        *f = (scale_fields){{offsetof(block_q4_0, d)}, 1};
        return true;
    case TK_TYPE_Q4_1:
        *f = (scale_fields){{offsetof(block_q4_1, d), offsetof(block_q4_1, m)}, 2};
        return true;
    case TK_TYPE_Q5_0:
        *f = (scale_fields){{offsetof(block_q5_0, d)}, 1};
        return true;
    case TK_TYPE_Q5_1:
        *f = (scale_fields){{offsetof(block_q5_1, d), offsetof(block_q5_1, m)}, 2};
        return true;
    case TK_TYPE_Q8_0:
        *f = (scale_fields){{offsetof(block_q8_0, d)}, 1};
        return true;
    case TK_TYPE_Q2_K:
        *f = (scale_fields){{offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)}, 2};
        return true;
    case TK_TYPE_Q3_K:
        *f = (scale_fields){{offsetof(block_q3_K, d)}, 1};
        return true;
    case TK_TYPE_Q4_K:
        *f = (scale_fields){{offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)}, 2};
        return true;
    case TK_TYPE_Q5_K:
        *f = (scale_fields){{offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)}, 2};
        return true;
    case TK_TYPE_Q6_K:
        *f = (scale_fields){{offsetof(block_q6_K, d)}, 1};
        return true;
    case TK_TYPE_IQ4_NL:
        *f = (scale_fields){{offsetof(block_iq4_nl, d)}, 1};
        return true;
    case TK_TYPE_IQ4_XS:
        *f = (scale_fields){{offsetof(block_iq4_xs, d)}, 1};
        return true;
    default:
        return false;
    }
}

int64_t tk_type_first_nonfinite(int type, const void *data, int64_t n)
{
    const tk_type_info *ti = tk_type_get(type);
    if (!ti || !data || n <= 0) return -1;
    const uint8_t *p = data;
    const int64_t nb = n / ti->block_size;
    const size_t bb = ti->block_bytes;
    int group, bits;
    scale_fields f;
    if (type == TK_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * (size_t)i, sizeof u);
            if ((u & 0x7f800000u) == 0x7f800000u) return i;
        }
    } else if (type == TK_TYPE_F16 || type == TK_TYPE_BF16) {
        const uint16_t mask = type == TK_TYPE_F16 ? 0x7c00u : 0x7f80u;
        for (int64_t i = 0; i < n; i++)
            if ((load16(p + 2 * (size_t)i) & mask) == mask) return i;
    } else if (quant_mlx_params(type, &group, &bits)) {
        /* x = scale * q + bias with q < 2^bits: finite when both are and
         * the largest |x| is. */
        const float qmax = (float)((1 << bits) - 1);
        for (int64_t b = 0; b < nb; b++) {
            const float s = quant_le_f32(p + (size_t)b * bb);
            const float z = quant_le_f32(p + (size_t)b * bb + 4);
            const float big = (s < 0 ? -s : s) * qmax + (z < 0 ? -z : z);
            if (!(big <= 3.0e38f)) return b * group; /* false for NaN too */
        }
    } else if (type == TK_TYPE_Q8_K) {
        for (int64_t b = 0; b < nb; b++) {
            const float d = quant_le_f32(p + (size_t)b * bb + offsetof(block_q8_K, d));
            if (!(d - d == 0.0f)) return b * ti->block_size;
        }
    } else if (block_scales(type, &f)) {
        for (int64_t b = 0; b < nb; b++)
            for (int k = 0; k < f.n; k++)
                if (half_bad(p + (size_t)b * bb + f.off[k])) return b * ti->block_size;
    } else {
        /* A type without a known layout: decode it, a block at a time. */
        float buf[256];
        if (ti->block_size > 256) return -1;
        for (int64_t b = 0; b < nb; b++) {
            ti->dequantize(p + (size_t)b * bb, buf, ti->block_size);
            for (int i = 0; i < ti->block_size; i++)
                if (!(buf[i] - buf[i] == 0.0f)) return b * ti->block_size + i;
        }
    }
    return -1;
}
