/* achat-server.h: AchatServer, a GSocketService that makes channels
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <gio/gio.h>

#include "achat-channel.h"
#include "achat-visibility.h"

G_BEGIN_DECLS

/**
 * ACHAT_SERVER_DEFAULT_BACKLOG:
 *
 * The listen backlog of a new [class@Achat.Server]: how many connections
 * the kernel queues before they are accepted.
 */
#define ACHAT_SERVER_DEFAULT_BACKLOG 1024

#define ACHAT_TYPE_SERVER (achat_server_get_type ())

ACHAT_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (AchatServer, achat_server, ACHAT, SERVER, GSocketService)

/**
 * AchatServerClass:
 * @parent_class: the parent class
 * @channel_accepted: class closure of [signal@Achat.Server::channel-accepted]
 *
 * The class structure of [class@Achat.Server].
 */
struct _AchatServerClass
{
  GSocketServiceClass parent_class;

  void (*channel_accepted) (AchatServer  *self,
                            AchatChannel *channel);

  /*< private >*/
  gpointer padding[8];
};

ACHAT_AVAILABLE_IN_ALL
AchatServer *achat_server_new              (GType        channel_type);
ACHAT_AVAILABLE_IN_ALL
GType        achat_server_get_channel_type (AchatServer *self);
ACHAT_AVAILABLE_IN_ALL
void         achat_server_set_channel_type (AchatServer *self,
                                            GType        channel_type);
ACHAT_AVAILABLE_IN_ALL
gboolean     achat_server_get_backing_off  (AchatServer *self);

G_END_DECLS
