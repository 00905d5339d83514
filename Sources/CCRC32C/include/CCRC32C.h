#ifndef BLOCKYARD_CCRC32C_H
#define BLOCKYARD_CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `len` bytes. Start with crc = 0; the
/// pre- and post-inversion are done inside, so calls can be chained:
/// by_crc32c_extend(by_crc32c_extend(0, a, n), b, m) == crc of a||b.
uint32_t by_crc32c_extend(uint32_t crc, const void *data, size_t len);

/// 1 when the hardware path (SSE4.2 on x86-64, CRC extension on AArch64) is in use.
int by_crc32c_hardware(void);

#endif
