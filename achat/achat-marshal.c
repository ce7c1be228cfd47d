/* achat-marshal.c: signal marshallers that do not copy their GBytes
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-marshal-private.h"

typedef void (*AchatBytesCallback) (gpointer  data1,
                                    GBytes   *bytes,
                                    gpointer  data2);

void
_achat_marshal_VOID__BYTESv (GClosure *closure,
                             GValue   *return_value G_GNUC_UNUSED,
                             gpointer  instance,
                             va_list   args,
                             gpointer  marshal_data,
                             int       n_params G_GNUC_UNUSED,
                             GType    *param_types G_GNUC_UNUSED)
{
  GCClosure *cclosure = (GCClosure *) closure;
  AchatBytesCallback callback;
  gpointer data1, data2;
  GBytes *bytes;
  va_list args_copy;

  G_VA_COPY (args_copy, args);
  bytes = va_arg (args_copy, GBytes *);
  va_end (args_copy);

  if (G_CCLOSURE_SWAP_DATA (closure))
    {
      data1 = closure->data;
      data2 = instance;
    }
  else
    {
      data1 = instance;
      data2 = closure->data;
    }
  callback = (AchatBytesCallback) (marshal_data != NULL ? marshal_data : cclosure->callback);
  callback (data1, bytes, data2);
}
