/* achat-marshal-private.h: signal marshallers that do not copy their GBytes
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* The va_list marshaller of the channel's input signals (VOID:BOXED with a
 * GBytes). GLib's own copies the boxed argument for each C callback and
 * frees the copy when the callback returns, which a callback cannot observe:
 * the emitter holds a reference for the whole emission either way. Bindings
 * never take this path (their closures are marshalled through GValues,
 * which still hold their own reference), so only the copy is saved. */
void _achat_marshal_VOID__BYTESv (GClosure *closure,
                                  GValue   *return_value,
                                  gpointer  instance,
                                  va_list   args,
                                  gpointer  marshal_data,
                                  int       n_params,
                                  GType    *param_types);

G_END_DECLS
