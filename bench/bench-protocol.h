/* bench-protocol.h: the small pieces of bench/PROTOCOL.md every program
 * needs the same way (plain C, for the GLib and the non-GLib programs)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Byte i of a GET stream. Its period is 256, so a block of a multiple of
 * 256 bytes filled from offset 0 repeats exactly. */
static inline uint8_t
bench_pattern_byte (uint64_t i)
{
  return (uint8_t) ((i * 7 + 3) & 0xff);
}

static inline void
bench_pattern_fill (uint8_t *block,
                    size_t   length)
{
  size_t i;

  for (i = 0; i < length; i++)
    block[i] = bench_pattern_byte (i);
}

/* A strict unsigned decimal filling all of @data..@length (no sign, no
 * spaces, no overflow). */
static inline bool
bench_parse_u64 (const void *data,
                 size_t      length,
                 uint64_t   *out)
{
  const unsigned char *p = data;
  uint64_t value = 0;
  size_t i;

  if (length == 0 || length > 20)
    return false;
  for (i = 0; i < length; i++)
    {
      unsigned digit = (unsigned) p[i] - '0';

      if (digit > 9 || value > (UINT64_MAX - digit) / 10)
        return false;
      value = value * 10 + digit;
    }
  *out = value;
  return true;
}

/* Sum of bytes modulo 2^32 (the frames checksum), eight at a time in
 * 16-bit lanes. Every C server uses this one, so the scenario compares
 * framing, not checksum loops. */
static inline uint32_t
bench_sum_bytes (const void *data,
                 size_t      n)
{
  const unsigned char *p = data;
  const uint64_t m = 0x00ff00ff00ff00ffULL;
  uint64_t total = 0;

  while (n >= 8)
    {
      uint64_t acc = 0;
      size_t blocks = n / 8;
      size_t i;

      if (blocks > 128)
        blocks = 128;      /* 128 * 510 < 65536: no lane overflow */
      for (i = 0; i < blocks; i++)
        {
          uint64_t x;

          memcpy (&x, p, 8);
          acc += (x & m) + ((x >> 8) & m);
          p += 8;
        }
      n -= blocks * 8;
      total += (acc & 0xffff) + ((acc >> 16) & 0xffff) + ((acc >> 32) & 0xffff) + (acc >> 48);
    }
  while (n--)
    total += *p++;
  return (uint32_t) total;
}
