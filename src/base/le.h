/*
 * Little-endian loads from byte buffers: dump headers and guest structures
 * copied out of guest memory are little-endian whatever the host is, and
 * their fields need not be aligned for the host.
 */
#ifndef VMIC_BASE_LE_H
#define VMIC_BASE_LE_H

#include <stdint.h>

static inline uint16_t vmic__le16(const void *at)
{
    const uint8_t *p = at;
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t vmic__le32(const void *at)
{
    const uint8_t *p = at;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t vmic__le64(const void *at)
{
    const uint8_t *p = at;
    return (uint64_t)vmic__le32(p) | (uint64_t)vmic__le32(p + 4) << 32;
}

#endif
