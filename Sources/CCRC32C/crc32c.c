// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by every
// checksum in Prometheus TSDB files. Hardware instructions when the CPU has
// them, a slicing-by-8 table otherwise.
#include "CCRC32C.h"
#include <string.h>

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int s = 1; s < 8; s++) table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t software(uint32_t crc, const uint8_t *p, size_t n) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint32_t lo = (uint32_t)w ^ crc, hi = (uint32_t)(w >> 32);
        crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
              table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
              table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(__x86_64__)
#include <cpuid.h>

// a * b modulo the polynomial, both in the reflected form the CRC state has (bit 31 is x^0).
static uint32_t multmodp(uint32_t a, uint32_t b) {
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return p;
}

// Long buffers go three blocks at a time, one CRC chain per block, and the chains are joined
// by the CRC's linearity: crc(s, A B) = crc(s, A) * x^(8|B|) + crc(0, B). One chain alone
// waits three cycles per 8 bytes on the instruction's latency; three keep it busy.
#define STRIDE 4096
static uint32_t shift_stride; // x^(8 * STRIDE) mod P
static int shift_ready = 0;

__attribute__((target("sse4.2")))
static uint32_t stride_constant(void) {
    if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE)) {
        uint64_t c = 1u << 31; // the polynomial 1
        for (int i = 0; i < STRIDE / 8; i++) c = __builtin_ia32_crc32di(c, 0);
        __atomic_store_n(&shift_stride, (uint32_t)c, __ATOMIC_RELAXED);
        __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&shift_stride, __ATOMIC_RELAXED);
}

// One chain, for short buffers and what the three-chain loop leaves; inlined into the
// four-record scan's tails.
__attribute__((target("sse4.2"), always_inline))
static inline uint32_t hardware_chain(uint64_t c, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    // The last 0-7 bytes in at most three steps (4, 2, 1 bytes), not one per byte.
    uint32_t c32 = (uint32_t)c;
    if (n & 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        c32 = __builtin_ia32_crc32si(c32, w);
        p += 4;
    }
    if (n & 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        c32 = __builtin_ia32_crc32hi(c32, w);
        p += 2;
    }
    if (n & 1) c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}

__attribute__((target("sse4.2")))
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    if (n >= 3 * STRIDE) {
        uint32_t k = stride_constant();
        do {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < STRIDE; i += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p + i, 8);
                memcpy(&w1, p + STRIDE + i, 8);
                memcpy(&w2, p + 2 * STRIDE + i, 8);
                c = __builtin_ia32_crc32di(c, w0);
                c1 = __builtin_ia32_crc32di(c1, w1);
                c2 = __builtin_ia32_crc32di(c2, w2);
            }
            c = multmodp(k, multmodp(k, (uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
            p += 3 * STRIDE;
            n -= 3 * STRIDE;
        } while (n >= 3 * STRIDE);
    }
    return hardware_chain(c, p, n);
}
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = __crc32cd(crc, w);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
static int detect(void) { return 1; }
#else
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) { return software(crc, p, n); }
static int detect(void) { return 0; }
#endif

#if defined(__x86_64__)
// Four independent CRCs in lockstep (each crc32 instruction has a latency of about three
// cycles and a throughput of one per cycle), then each tail on its own.
__attribute__((target("sse4.2")))
static void hardware4(const uint8_t *const *p, const size_t *n, uint32_t *out) {
    uint64_t c0 = 0xFFFFFFFFu, c1 = 0xFFFFFFFFu, c2 = 0xFFFFFFFFu, c3 = 0xFFFFFFFFu;
    size_t m = n[0];
    if (n[1] < m) m = n[1];
    if (n[2] < m) m = n[2];
    if (n[3] < m) m = n[3];
    m &= ~(size_t)7;
    for (size_t i = 0; i < m; i += 8) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p[0] + i, 8);
        memcpy(&w1, p[1] + i, 8);
        memcpy(&w2, p[2] + i, 8);
        memcpy(&w3, p[3] + i, 8);
        c0 = __builtin_ia32_crc32di(c0, w0);
        c1 = __builtin_ia32_crc32di(c1, w1);
        c2 = __builtin_ia32_crc32di(c2, w2);
        c3 = __builtin_ia32_crc32di(c3, w3);
    }
    out[0] = ~hardware_chain(c0, p[0] + m, n[0] - m);
    out[1] = ~hardware_chain(c1, p[1] + m, n[1] - m);
    out[2] = ~hardware_chain(c2, p[2] + m, n[2] - m);
    out[3] = ~hardware_chain(c3, p[3] + m, n[3] - m);
}
#define HAVE_HARDWARE4 1
#endif

static int mode = -1; // -1 unknown, 0 software, 1 hardware

int by_crc32c_hardware(void) {
    int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);
    if (m < 0) {
        m = detect();
        __atomic_store_n(&mode, m, __ATOMIC_RELAXED);
    }
    return m;
}

uint32_t by_crc32c_extend(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    c = by_crc32c_hardware() ? hardware(c, p, len) : software(c, p, len);
    return ~c;
}

void by_crc32c_many(const void *const *data, const size_t *len, uint32_t *out, size_t count) {
    size_t i = 0;
#if defined(HAVE_HARDWARE4)
    if (by_crc32c_hardware()) {
        for (; i + 4 <= count; i += 4) hardware4((const uint8_t *const *)(data + i), len + i, out + i);
    }
#endif
    for (; i < count; i++) out[i] = by_crc32c_extend(0, data[i], len[i]);
}

// Parses a record header at base[off]; returns 0 and fills r, or the status.
static inline int chunk_header(const uint8_t *base, size_t size, size_t off, by_chunk_record *r) {
    size_t i = off;
    uint64_t len = 0;
    int shift = 0;
    for (;;) {
        if (i >= size) return 1;
        uint8_t b = base[i++];
        len |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) break;
        shift += 7;
        if (shift > 28) return 2;
    }
    if (i >= size || len > 0x7FFFFFFF) return len > 0x7FFFFFFF ? 2 : 1;
    r->header_len = (uint8_t)(i + 1 - off);
    r->encoding = base[i];
    r->data_len = (int32_t)len;
    if (off + r->header_len + len + 4 > size) return 1;
    const uint8_t *d = base + i + 1;
    r->samples = len >= 2 ? (int32_t)((d[0] << 8) | d[1]) : -1;
    return 0;
}

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* CRCs of up to four records at once, compared with the checksum stored after each. */
static void check_batch(const void *const *ptr, const size_t *len, const size_t *idx, int n, by_chunk_record *out) {
    uint32_t crc[4];
    by_crc32c_many(ptr, len, crc, (size_t)n);
    for (int j = 0; j < n; j++) {
        by_chunk_record *q = &out[idx[j]];
        q->crc = crc[j];
        q->stored = load_be32((const uint8_t *)ptr[j] + len[j]);
        if (q->stored != crc[j]) q->status = 3;
    }
}

void by_crc32c_chunk_records(const uint8_t *base, size_t size, const int64_t *offsets, size_t count,
                             int check_crc, by_chunk_record *out) {
    const void *ptr[4];
    size_t len[4];
    size_t idx[4];
    int n = 0;
    for (size_t k = 0; k < count; k++) {
        by_chunk_record *r = &out[k];
        memset(r, 0, sizeof *r);
        size_t off = (size_t)offsets[k];
        int st = off < size ? chunk_header(base, size, off, r) : 1;
        r->status = (uint8_t)st;
        if (st != 0 || !check_crc) continue;
        ptr[n] = base + off + r->header_len - 1;
        len[n] = (size_t)r->data_len + 1;
        idx[n] = k;
        if (++n == 4) {
            check_batch(ptr, len, idx, n, out);
            n = 0;
        }
    }
    if (n > 0) check_batch(ptr, len, idx, n, out);
}
