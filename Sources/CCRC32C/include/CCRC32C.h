#ifndef BLOCKYARD_CCRC32C_H
#define BLOCKYARD_CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `len` bytes. Start with crc = 0; the
/// pre- and post-inversion are done inside, so calls can be chained:
/// by_crc32c_extend(by_crc32c_extend(0, a, n), b, m) == crc of a||b.
uint32_t by_crc32c_extend(uint32_t crc, const void *data, size_t len);

/// The CRC-32C of each of `count` buffers (`out[i]` = crc of `data[i]`, `len[i]` bytes),
/// four at a time on hardware so their dependency chains overlap: for many short
/// buffers (chunks) this is several times the throughput of one call per buffer.
void by_crc32c_many(const void *const *data, const size_t *len, uint32_t *out, size_t count);

/// What `by_crc32c_chunk_records` found for one chunk record.
typedef struct {
    int32_t data_len;     ///< payload bytes (after the encoding byte, before the CRC)
    int32_t samples;      ///< first two payload bytes, big-endian (-1 when shorter)
    uint32_t crc;         ///< CRC-32C computed over encoding byte and payload
    uint32_t stored;      ///< the CRC stored after the payload
    uint8_t header_len;   ///< bytes of the length field and the encoding byte
    uint8_t encoding;
    uint8_t status;       ///< 0 ok, 1 runs past the buffer, 2 length field too long, 3 CRC mismatch
    uint8_t reserved;
} by_chunk_record;

/// Checks TSDB chunk records (`uvarint len | encoding | payload[len] | CRC-32C BE32` over
/// encoding and payload) starting at `offsets[i]` of `base[0..size)`, in one pass over the
/// bytes: lengths parsed, CRCs computed four records at a time, compared when
/// `check_crc`. Offsets should ascend (they usually follow each other).
void by_crc32c_chunk_records(const uint8_t *base, size_t size, const int64_t *offsets, size_t count,
                             int check_crc, by_chunk_record *out);

/// 1 when the hardware path (SSE4.2 on x86-64, CRC extension on AArch64) is in use.
int by_crc32c_hardware(void);

#endif
