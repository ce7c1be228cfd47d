/* chat-server.c: a multi-user line chat server, asynchat's classic example
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: chat-server [PORT]
 *
 * Listens on 127.0.0.1:PORT (0 or no argument: a port the kernel picks),
 * prints "listening on 127.0.0.1:PORT" and serves until SIGTERM or SIGINT,
 * then exits with status 0. chat-server.py and chat-server.js speak the
 * same protocol.
 *
 * The protocol
 * ------------
 * Lines end with "\r\n"; a bare "\n" is accepted too (a trailing "\r" is
 * stripped). The server always sends "\r\n". Empty lines are ignored.
 * Text is relayed as bytes, unchanged.
 *
 *   on connect           server: * welcome, send NICK <name>
 *   NICK <name>          everybody in the room, newcomer included:
 *                                * <name> joined
 *                        <name> is 1 to 16 of A-Z a-z 0-9 _ - and unique;
 *                        otherwise one of these, and nothing else happens:
 *                                ! invalid nick, use 1-16 of A-Z a-z 0-9 _ -
 *                                ! nick <name> is taken
 *                                ! you are already <nick>
 *   /who                 server: * users: <nick> <nick> ...   (sorted)
 *   /quit                server: * bye, then closes the connection;
 *                        others: * <nick> left
 *   /anything-else       server: ! unknown command /anything-else
 *   any other line       others: <nick> line
 *
 * Before NICK only NICK and /quit are accepted; anything else gets
 * "! send NICK <name> first". A client that disconnects without /quit is
 * announced as "* <nick> left" too. Lines that arrive after /quit are
 * ignored.
 *
 * How it is built
 * ---------------
 * The server is an AchatServer whose channel-type is ChatChannel, a
 * subclass of AchatChannel that sets its terminator when it is made and
 * overrides the terminator_found() and closed() class closures. The
 * server's channel-accepted signal adds each new channel to the room (the
 * registry of connected channels) and greets it; the channel's closed()
 * removes it from the room. Broadcasts skip channels that are closing
 * (achat_channel_is_closing()): a channel refuses pushes once
 * achat_channel_close_when_done() has been called.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <achat/achat.h>

#define NICK_MAX_LENGTH 16

/* The room ------------------------------------------------------------- */

typedef struct
{
  GPtrArray *channels;      /* ChatChannel *, owned, in order of arrival */
  gboolean shutting_down;   /* no announcements while closing everything */
} ChatRoom;

/* The channel ---------------------------------------------------------- */

#define CHAT_TYPE_CHANNEL (chat_channel_get_type ())
G_DECLARE_FINAL_TYPE (ChatChannel, chat_channel, CHAT, CHANNEL, AchatChannel)

struct _ChatChannel
{
  AchatChannel parent_instance;

  ChatRoom *room;           /* set when accepted; NULL once closed */
  gchar *nick;              /* NULL before NICK and after /quit */
};

G_DEFINE_FINAL_TYPE (ChatChannel, chat_channel, ACHAT_TYPE_CHANNEL)

/* Queues @line and the line end, unless the channel is closing. */
static void
chat_channel_send (ChatChannel *self,
                   const gchar *line)
{
  AchatChannel *channel = ACHAT_CHANNEL (self);
  g_autofree gchar *framed = NULL;

  if (achat_channel_is_closing (channel))
    return;
  framed = g_strconcat (line, "\r\n", NULL);
  achat_channel_push (channel, (const guint8 *) framed, strlen (framed));
}

static gboolean
chat_channel_in_room (ChatChannel *self)
{
  return self->nick != NULL && !achat_channel_is_closing (ACHAT_CHANNEL (self));
}

/* Sends @line (which ends with "\r\n") to everybody in the room but
 * @except. The same GBytes goes to every channel. */
static void
chat_room_broadcast_bytes (ChatRoom    *room,
                           ChatChannel *except,
                           GBytes      *line)
{
  guint i;

  for (i = 0; i < room->channels->len; i++)
    {
      ChatChannel *member = g_ptr_array_index (room->channels, i);

      if (member != except && chat_channel_in_room (member))
        achat_channel_push_bytes (ACHAT_CHANNEL (member), line);
    }
}

static void
chat_room_broadcast (ChatRoom    *room,
                     ChatChannel *except,
                     const gchar *line)
{
  g_autoptr(GBytes) framed = NULL;
  gchar *data = g_strconcat (line, "\r\n", NULL);

  framed = g_bytes_new_take (data, strlen (data));
  chat_room_broadcast_bytes (room, except, framed);
}

static ChatChannel *
chat_room_find (ChatRoom    *room,
                const gchar *nick)
{
  guint i;

  for (i = 0; i < room->channels->len; i++)
    {
      ChatChannel *member = g_ptr_array_index (room->channels, i);

      if (chat_channel_in_room (member) && g_str_equal (member->nick, nick))
        return member;
    }
  return NULL;
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* "* users: alice bob carol" */
static gchar *
chat_room_list_users (ChatRoom *room)
{
  g_autoptr(GPtrArray) nicks = g_ptr_array_new ();
  GString *line = g_string_new ("* users:");
  guint i;

  for (i = 0; i < room->channels->len; i++)
    {
      ChatChannel *member = g_ptr_array_index (room->channels, i);

      if (chat_channel_in_room (member))
        g_ptr_array_add (nicks, member->nick);
    }
  g_ptr_array_sort (nicks, compare_strings);
  for (i = 0; i < nicks->len; i++)
    g_string_append_printf (line, " %s", (const gchar *) g_ptr_array_index (nicks, i));

  return g_string_free (line, FALSE);
}

static gboolean
nick_is_valid (const gchar *data,
               gsize        length)
{
  gsize i;

  if (length == 0 || length > NICK_MAX_LENGTH)
    return FALSE;
  for (i = 0; i < length; i++)
    if (!g_ascii_isalnum (data[i]) && data[i] != '_' && data[i] != '-')
      return FALSE;
  return TRUE;
}

static void
chat_channel_handle_nick (ChatChannel *self,
                          const gchar *name,
                          gsize        length)
{
  g_autofree gchar *reply = NULL;
  g_autofree gchar *nick = NULL;

  if (self->nick != NULL)
    {
      reply = g_strdup_printf ("! you are already %s", self->nick);
      chat_channel_send (self, reply);
      return;
    }
  if (!nick_is_valid (name, length))
    {
      chat_channel_send (self, "! invalid nick, use 1-16 of A-Z a-z 0-9 _ -");
      return;
    }

  nick = g_strndup (name, length);
  if (chat_room_find (self->room, nick) != NULL)
    {
      reply = g_strdup_printf ("! nick %s is taken", nick);
      chat_channel_send (self, reply);
      return;
    }

  self->nick = g_steal_pointer (&nick);
  reply = g_strdup_printf ("* %s joined", self->nick);
  chat_room_broadcast (self->room, NULL, reply);
}

static void
chat_channel_handle_quit (ChatChannel *self)
{
  g_autofree gchar *nick = g_steal_pointer (&self->nick);

  chat_channel_send (self, "* bye");
  /* Closes once "* bye" is written; pushes are refused from now on. */
  achat_channel_close_when_done (ACHAT_CHANNEL (self));

  if (nick != NULL)
    {
      g_autofree gchar *notice = g_strdup_printf ("* %s left", nick);

      chat_room_broadcast (self->room, self, notice);
    }
}

static void
chat_channel_handle_line (ChatChannel *self,
                          const gchar *data,
                          gsize        length)
{
  GString *relayed;
  g_autoptr(GBytes) framed = NULL;

  if ((length == 4 && memcmp (data, "NICK", 4) == 0) ||
      (length > 4 && memcmp (data, "NICK ", 5) == 0))
    {
      gsize skip = MIN (length, 5);

      chat_channel_handle_nick (self, data + skip, length - skip);
      return;
    }
  if (length == 5 && memcmp (data, "/quit", 5) == 0)
    {
      chat_channel_handle_quit (self);
      return;
    }
  if (self->nick == NULL)
    {
      chat_channel_send (self, "! send NICK <name> first");
      return;
    }
  if (length == 4 && memcmp (data, "/who", 4) == 0)
    {
      g_autofree gchar *users = chat_room_list_users (self->room);

      chat_channel_send (self, users);
      return;
    }
  if (data[0] == '/')
    {
      const gchar *space = memchr (data, ' ', length);
      g_autofree gchar *command = g_strndup (data, space != NULL ? (gsize) (space - data) : length);
      g_autofree gchar *reply = g_strdup_printf ("! unknown command %s", command);

      chat_channel_send (self, reply);
      return;
    }

  /* "<nick> line": the line is relayed as bytes, whatever they are. */
  relayed = g_string_new (NULL);
  g_string_append_printf (relayed, "<%s> ", self->nick);
  g_string_append_len (relayed, data, length);
  g_string_append (relayed, "\r\n");
  framed = g_string_free_to_bytes (relayed);
  chat_room_broadcast_bytes (self->room, self, framed);
}

static void
chat_channel_terminator_found (AchatChannel *channel,
                               GBytes       *message)
{
  ChatChannel *self = CHAT_CHANNEL (channel);
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);

  /* After /quit, or before the server has accepted it. */
  if (achat_channel_is_closing (channel) || self->room == NULL)
    return;

  if (length > 0 && data[length - 1] == '\r')
    length--;
  if (length == 0)
    return;

  chat_channel_handle_line (self, data, length);
}

static void
chat_channel_closed (AchatChannel *channel,
                     const GError *error)
{
  ChatChannel *self = CHAT_CHANNEL (channel);
  ChatRoom *room = g_steal_pointer (&self->room);
  g_autofree gchar *nick = g_steal_pointer (&self->nick);

  if (room == NULL)
    return;

  if (error != NULL)
    g_printerr ("chat-server: connection of %s lost: %s\n",
                nick != NULL ? nick : "a newcomer", error->message);

  /* Drops the room's reference; the channel holds one while it emits. */
  g_ptr_array_remove (room->channels, self);

  if (nick != NULL && !room->shutting_down)
    {
      g_autofree gchar *notice = g_strdup_printf ("* %s left", nick);

      chat_room_broadcast (room, NULL, notice);
    }
}

static void
chat_channel_finalize (GObject *object)
{
  ChatChannel *self = CHAT_CHANNEL (object);

  g_free (self->nick);

  G_OBJECT_CLASS (chat_channel_parent_class)->finalize (object);
}

static void
chat_channel_class_init (ChatChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  object_class->finalize = chat_channel_finalize;

  channel_class->terminator_found = chat_channel_terminator_found;
  channel_class->closed = chat_channel_closed;
}

static void
chat_channel_init (ChatChannel *self)
{
  /* "\n" ends a line; chat_channel_terminator_found() strips a "\r". */
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\n", 1);
}

/* The server ----------------------------------------------------------- */

static void
on_channel_accepted (AchatServer  *server G_GNUC_UNUSED,
                     AchatChannel *channel,
                     gpointer      user_data)
{
  ChatRoom *room = user_data;
  ChatChannel *member = CHAT_CHANNEL (channel);

  member->room = room;
  g_ptr_array_add (room->channels, g_object_ref (member));
  chat_channel_send (member, "* welcome, send NICK <name>");
}

static gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
parse_port (const gchar *text,
            guint16     *port)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT16, &value, NULL))
    return FALSE;
  *port = (guint16) value;
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(AchatServer) server = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  ChatRoom room = { 0, };
  guint16 port = 0;
  guint sigterm_id;
  guint sigint_id;

  if (argc > 2 || (argc == 2 && !parse_port (argv[1], &port)))
    {
      g_printerr ("usage: %s [PORT]\n", argv[0]);
      return 2;
    }

  room.channels = g_ptr_array_new_with_free_func (g_object_unref);
  server = achat_server_new (CHAT_TYPE_CHANNEL);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_channel_accepted), &room);

  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &bound, &error))
    {
      g_printerr ("chat-server: cannot listen on 127.0.0.1:%u: %s\n", port, error->message);
      g_ptr_array_unref (room.channels);
      return 1;
    }
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  loop = g_main_loop_new (NULL, FALSE);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);

  g_socket_service_start (G_SOCKET_SERVICE (server));
  printf ("listening on 127.0.0.1:%u\n", port);
  fflush (stdout);

  g_main_loop_run (loop);

  /* Stop accepting, then close every connection without announcements. */
  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_socket_listener_close (G_SOCKET_LISTENER (server));
  room.shutting_down = TRUE;
  while (room.channels->len > 0)
    /* Emits closed() at once, which removes the channel from the room. */
    achat_channel_close (g_ptr_array_index (room.channels, 0));
  g_ptr_array_unref (room.channels);

  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);

  return 0;
}
