/* test-scripts.h: protocol scripts, for the tests of the message styles
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A script is a stream a peer writes and, for each message, the framing
 * in force for it and the message it must give. The pull style, the
 * handler style (test-channel-pull.c) and whole-read delivery
 * (test-channel-whole.c) run them over every split of the stream.
 */

#pragma once

#include <achat/achat.h>

G_BEGIN_DECLS

/* Framing ----------------------------------------------------------------- */

typedef enum
{
  F_BYTES,       /* @bytes */
  F_LINE,        /* "\r\n" or "\n" (set_terminators()) */
  F_COUNT,       /* @count bytes */
  F_LENGTH16,    /* a 2-byte big-endian length, then the payload */
  F_NETSTRING,   /* "<decimal>:" then the payload, then "," */
  F_CHUNK,       /* "<hex>\r\n" then the payload, then "\r\n" */
} FramingKind;

typedef struct
{
  FramingKind kind;
  const gchar *bytes;
  guint64 count;
} Framing;

/* Scripts ---------------------------------------------------------------- */

#define MAX_STEPS 40

typedef struct
{
  Framing framing;
  const gchar *message;
  gsize message_len;             /* 0: strlen (message) */
} Step;

typedef struct
{
  const gchar *name;
  const gchar *stream;
  gsize stream_len;              /* 0: strlen (stream) */
  Step steps[MAX_STEPS];
  guint n_steps;
  /* After the last step the peer closes: the next read returns NULL (clean
   * end) or fails with G_IO_ERROR_PARTIAL_INPUT, the rest in
   * get_collected(). */
  const gchar *rest;
} Script;

void        apply_framing  (AchatChannel  *channel,
                            const Framing *framing);
/* Whether @bytes holds the @length bytes at @data. */
gboolean    bytes_equal    (GBytes        *bytes,
                            const void    *data,
                            gsize          length);

/* The table of scripts (the same as tests/data/pull-scripts.json). */
extern const Script scripts[];
extern const guint n_scripts;

/* Registers @func once per script, as @prefix/NAME, the script as data. */
void        test_add_scripts (const gchar      *prefix,
                              GTestDataFunc     func);

/* A random protocol: each message framed its own way (string terminators,
 * either line ending, counts, length prefixes, text lengths); its strings are kept in
 * @keep, the stream in @stream. */
void        random_script  (GRand         *rand,
                            Script        *script,
                            GString       *stream,
                            GPtrArray     *keep);

G_END_DECLS
