/* achat-demo.c: a tiny chat server and three clients, in one process
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An AchatServer listens on 127.0.0.1, on a port the kernel picks, and
 * speaks a line protocol ("\r\n" ends each line):
 *
 *   server: WELCOME to the achat demo, say NICK <name>
 *   NICK n  server: HI n                  others: * n joined
 *   text    server: TEXT (uppercased)     others: <n> text
 *   QUIT    server: BYE n, then closes    others: * n left
 *
 * Three clients, made with achat_channel_connect_to_host_async(), take
 * turns following a script: a turn is over when every line the server
 * should send because of it has arrived (and, for QUIT, when the client's
 * channel has closed), so the transcript is the same on every run. Each
 * client checks the lines it receives against what it expects.
 *
 * The demo exits with status 0 once every client has quit and closed, and
 * with status 1 on any surprise or after 10 seconds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <achat/achat.h>

#define TERMINATOR "\r\n"
#define GREETING "WELCOME to the achat demo, say NICK <name>"
#define TIMEOUT_SECONDS 10

/* Helpers -------------------------------------------------------------- */

/* Queues @line and the terminator, in one push. */
static void
push_line (AchatChannel *channel,
           const gchar  *line)
{
  g_autofree gchar *framed = g_strconcat (line, TERMINATOR, NULL);

  achat_channel_push (channel, (const guint8 *) framed, strlen (framed));
}

static gchar *
bytes_to_string (GBytes *bytes)
{
  gsize length;
  const gchar *data = g_bytes_get_data (bytes, &length);

  return length > 0 ? g_strndup (data, length) : g_strdup ("");
}

static void
set_line_terminator (AchatChannel *channel)
{
  achat_channel_set_terminator (channel, (const guint8 *) TERMINATOR,
                                strlen (TERMINATOR));
}

/* The server ----------------------------------------------------------- */

typedef struct _ChatServer ChatServer;

typedef struct
{
  ChatServer *server;
  AchatChannel *channel;   /* owned until it closes */
  gchar *nick;             /* NULL until NICK */
} ChatMember;

struct _ChatServer
{
  AchatServer *service;
  GList *members;          /* ChatMember *, in order of arrival */
  guint n_accepted;
};

/* Sends @line to every member who has a name, but @from. */
static void
chat_server_broadcast (ChatServer  *server,
                       ChatMember  *from,
                       const gchar *line)
{
  GList *l;

  for (l = server->members; l != NULL; l = l->next)
    {
      ChatMember *member = l->data;

      if (member == from || member->nick == NULL ||
          achat_channel_is_closing (member->channel))
        continue;
      push_line (member->channel, line);
    }
}

static void
on_member_line (AchatChannel *channel,
                GBytes       *message,
                gpointer      user_data)
{
  ChatMember *member = user_data;
  ChatServer *server = member->server;
  g_autofree gchar *line = bytes_to_string (message);
  g_autofree gchar *reply = NULL;
  g_autofree gchar *notice = NULL;

  if (achat_channel_is_closing (channel))
    return;   /* said something after QUIT */

  if (g_str_equal (line, "QUIT"))
    {
      reply = g_strdup_printf ("BYE %s", member->nick != NULL ? member->nick : "stranger");
      push_line (channel, reply);
      /* Closes once BYE is written. */
      achat_channel_close_when_done (channel);
      if (member->nick != NULL)
        {
          notice = g_strdup_printf ("* %s left", member->nick);
          chat_server_broadcast (server, member, notice);
        }
    }
  else if (g_str_has_prefix (line, "NICK ") && line[5] != '\0')
    {
      if (member->nick != NULL)
        {
          reply = g_strdup_printf ("ERROR you are %s already", member->nick);
          push_line (channel, reply);
          return;
        }
      member->nick = g_strdup (line + 5);
      reply = g_strdup_printf ("HI %s", member->nick);
      push_line (channel, reply);
      notice = g_strdup_printf ("* %s joined", member->nick);
      chat_server_broadcast (server, member, notice);
    }
  else if (member->nick == NULL)
    push_line (channel, "ERROR say NICK <name> first");
  else
    {
      reply = g_utf8_strup (line, -1);
      push_line (channel, reply);
      notice = g_strdup_printf ("<%s> %s", member->nick, line);
      chat_server_broadcast (server, member, notice);
    }
}

static void
on_member_closed (AchatChannel *channel,
                  const GError *error,
                  gpointer      user_data)
{
  ChatMember *member = user_data;
  ChatServer *server = member->server;

  if (error != NULL)
    g_print ("[server] connection of %s failed: %s\n",
             member->nick != NULL ? member->nick : "a stranger", error->message);

  server->members = g_list_remove (server->members, member);
  g_signal_handlers_disconnect_by_data (channel, member);
  g_clear_object (&member->channel);
  g_free (member->nick);
  g_free (member);
}

static void
on_channel_accepted (AchatServer  *service G_GNUC_UNUSED,
                     AchatChannel *channel,
                     gpointer      user_data)
{
  ChatServer *server = user_data;
  ChatMember *member = g_new0 (ChatMember, 1);

  member->server = server;
  member->channel = g_object_ref (channel);
  server->members = g_list_append (server->members, member);
  server->n_accepted++;

  set_line_terminator (channel);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_member_line), member);
  g_signal_connect (channel, "closed", G_CALLBACK (on_member_closed), member);

  push_line (channel, GREETING);
}

/* Closes every connection still open (only when the demo is cut short). */
static void
chat_server_close_all (ChatServer *server)
{
  while (server->members != NULL)
    {
      ChatMember *member = server->members->data;

      /* Emits "closed" at once, which removes the member. */
      achat_channel_close (member->channel);
    }
}

/* The clients and the script ------------------------------------------- */

enum { ALICE, BOB, CAROL, N_CLIENTS };

static const gchar * const client_names[N_CLIENTS] = { "alice", "bob", "carol" };

typedef struct
{
  guint client;
  const gchar *line;       /* NULL: connect */
} Turn;

static const Turn script[] = {
  { ALICE, NULL },
  { ALICE, "NICK alice" },
  { BOB,   NULL },
  { BOB,   "NICK bob" },
  { ALICE, "hi bob" },
  { CAROL, NULL },
  { CAROL, "NICK carol" },
  { BOB,   "hello alice, hello carol" },
  { CAROL, "asynchat, on the GLib main loop!" },
  { ALICE, "QUIT" },
  { BOB,   "alice left early" },
  { CAROL, "see you, bob" },
  { BOB,   "QUIT" },
  { CAROL, "QUIT" },
};

typedef struct _Demo Demo;

typedef struct
{
  Demo *demo;
  const gchar *name;
  AchatChannel *channel;   /* owned; NULL until connected */
  GQueue expected;         /* gchar *: the lines the server should send next */
  GPtrArray *transcript;   /* gchar *: what happened in the current turn */
  gboolean joined;         /* said NICK, not QUIT yet */
  gboolean closed;
} Client;

struct _Demo
{
  GMainLoop *loop;
  ChatServer server;
  gchar *address;          /* "127.0.0.1:PORT" */
  Client clients[N_CLIENTS];
  guint turn;              /* index in script[] */
  guint idle_id;
  guint timeout_id;
  int status;
};

static void demo_check_turn (Demo *demo);

static void
demo_fail (Demo *demo)
{
  demo->status = EXIT_FAILURE;
}

static void
client_note (Client      *client,
             const gchar *note)
{
  g_ptr_array_add (client->transcript, g_strdup_printf ("[%s] %s", client->name, note));
}

static void
client_expect (Client      *client,
               const gchar *line)
{
  g_queue_push_tail (&client->expected, g_strdup (line));
}

/* Everybody in the chat but @sender will hear about it. */
static void
demo_expect_others (Demo        *demo,
                    Client      *sender,
                    const gchar *line)
{
  guint i;

  for (i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &demo->clients[i];

      if (client != sender && client->joined)
        client_expect (client, line);
    }
}

static void
client_print_transcript (Client *client)
{
  guint i;

  for (i = 0; i < client->transcript->len; i++)
    g_print ("%s\n", (const gchar *) g_ptr_array_index (client->transcript, i));
  g_ptr_array_set_size (client->transcript, 0);
}

/* Prints what the current turn did: its client first, then the others. */
static void
demo_print_transcripts (Demo   *demo,
                        Client *first)
{
  guint i;

  if (first != NULL)
    client_print_transcript (first);
  for (i = 0; i < N_CLIENTS; i++)
    client_print_transcript (&demo->clients[i]);
}

static void
on_client_line (AchatChannel *channel G_GNUC_UNUSED,
                GBytes       *message,
                gpointer      user_data)
{
  Client *client = user_data;
  g_autofree gchar *line = bytes_to_string (message);
  g_autofree gchar *wanted = g_queue_pop_head (&client->expected);

  g_ptr_array_add (client->transcript,
                   g_strdup_printf ("[server -> %s] %s", client->name, line));
  if (g_strcmp0 (line, wanted) != 0)
    {
      g_autofree gchar *note = NULL;

      if (wanted != NULL)
        note = g_strdup_printf ("UNEXPECTED: wanted \"%s\"", wanted);
      else
        note = g_strdup ("UNEXPECTED: wanted nothing");
      client_note (client, note);
      demo_fail (client->demo);
    }

  demo_check_turn (client->demo);
}

static void
on_client_closed (AchatChannel *channel G_GNUC_UNUSED,
                  const GError *error,
                  gpointer      user_data)
{
  Client *client = user_data;
  Demo *demo = client->demo;
  const Turn *turn = demo->turn < G_N_ELEMENTS (script) ? &script[demo->turn] : NULL;

  client->closed = TRUE;
  if (error != NULL)
    {
      g_autofree gchar *note = g_strdup_printf ("connection failed: %s", error->message);

      client_note (client, note);
      demo_fail (demo);
    }
  else
    client_note (client, "disconnected");

  if (turn == NULL || &demo->clients[turn->client] != client ||
      g_strcmp0 (turn->line, "QUIT") != 0)
    {
      client_note (client, "UNEXPECTED: the server closed the connection");
      demo_fail (demo);
    }
  if (!g_queue_is_empty (&client->expected))
    {
      client_note (client, "UNEXPECTED: closed before the server said everything");
      g_queue_clear_full (&client->expected, g_free);
      demo_fail (demo);
    }

  demo_check_turn (demo);
}

static void
on_client_connected (GObject      *source G_GNUC_UNUSED,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Client *client = user_data;
  Demo *demo = client->demo;
  g_autoptr(GError) error = NULL;

  client->channel = achat_channel_connect_to_host_finish (result, &error);
  if (client->channel == NULL)
    {
      g_print ("[%s] could not connect to %s: %s\n", client->name, demo->address,
               error->message);
      demo_fail (demo);
      g_main_loop_quit (demo->loop);
      return;
    }

  /* The channel reads only from the main loop: set its terminator and
   * connect its handlers before returning to it. */
  set_line_terminator (client->channel);
  g_signal_connect (client->channel, "terminator-found", G_CALLBACK (on_client_line), client);
  g_signal_connect (client->channel, "closed", G_CALLBACK (on_client_closed), client);
  client_note (client, "connected");
}

static void
demo_finish (Demo *demo)
{
  guint i;

  g_print ("[demo] script over\n");
  for (i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &demo->clients[i];

      g_print ("[demo] %s sent %" G_GUINT64_FORMAT " bytes and received %"
               G_GUINT64_FORMAT " bytes\n", client->name,
               achat_channel_get_bytes_sent (client->channel),
               achat_channel_get_bytes_received (client->channel));
      if (!client->closed)
        {
          g_print ("[demo] %s is still connected\n", client->name);
          demo_fail (demo);
        }
    }

  g_print ("[server] served %u connections, %u still open\n",
           demo->server.n_accepted, g_list_length (demo->server.members));
  if (demo->server.members != NULL)
    demo_fail (demo);

  g_print ("[demo] %s\n", demo->status == EXIT_SUCCESS ? "all clients closed: success" : "FAILED");
  g_main_loop_quit (demo->loop);
}

static void
demo_start_turn (gpointer user_data)
{
  Demo *demo = user_data;
  const Turn *turn;
  Client *client;
  g_autofree gchar *mine = NULL;
  g_autofree gchar *theirs = NULL;

  demo->idle_id = 0;
  if (demo->turn == G_N_ELEMENTS (script))
    {
      demo_finish (demo);
      return;
    }

  turn = &script[demo->turn];
  client = &demo->clients[turn->client];

  if (turn->line == NULL)
    {
      g_print ("[%s] connecting to %s\n", client->name, demo->address);
      client_expect (client, GREETING);
      achat_channel_connect_to_host_async (demo->address, 0, NULL,
                                           on_client_connected, client);
      return;
    }

  g_print ("[%s ->] %s\n", client->name, turn->line);
  push_line (client->channel, turn->line);

  /* What the server should answer, to whom. */
  if (g_str_equal (turn->line, "QUIT"))
    {
      client->joined = FALSE;
      mine = g_strdup_printf ("BYE %s", client->name);
      theirs = g_strdup_printf ("* %s left", client->name);
    }
  else if (g_str_has_prefix (turn->line, "NICK "))
    {
      mine = g_strdup_printf ("HI %s", turn->line + 5);
      theirs = g_strdup_printf ("* %s joined", turn->line + 5);
    }
  else
    {
      mine = g_utf8_strup (turn->line, -1);
      theirs = g_strdup_printf ("<%s> %s", client->name, turn->line);
    }
  client_expect (client, mine);
  demo_expect_others (demo, client, theirs);
  if (g_str_has_prefix (turn->line, "NICK "))
    client->joined = TRUE;
}

/* Called whenever a client heard something: moves on to the next turn
 * once the current one is over. */
static void
demo_check_turn (Demo *demo)
{
  const Turn *turn;
  Client *client;
  guint i;

  if (demo->turn >= G_N_ELEMENTS (script) || demo->idle_id != 0)
    return;
  turn = &script[demo->turn];
  client = &demo->clients[turn->client];

  for (i = 0; i < N_CLIENTS; i++)
    if (!g_queue_is_empty (&demo->clients[i].expected))
      return;
  if (g_strcmp0 (turn->line, "QUIT") == 0 && !client->closed)
    return;

  demo_print_transcripts (demo, client);
  demo->turn++;
  /* Not from inside the handler of a channel. */
  demo->idle_id = g_idle_add_once (demo_start_turn, demo);
}

static gboolean
on_timeout (gpointer user_data)
{
  Demo *demo = user_data;
  guint i;

  demo->timeout_id = 0;
  demo_print_transcripts (demo, NULL);
  g_print ("[demo] FAILED: timed out after %d s, in turn %u of %u\n",
           TIMEOUT_SECONDS, demo->turn + 1, (guint) G_N_ELEMENTS (script));
  for (i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &demo->clients[i];
      GList *l;

      for (l = client->expected.head; l != NULL; l = l->next)
        g_print ("[demo] %s still waits for \"%s\"\n", client->name,
                 (const gchar *) l->data);
    }

  demo_fail (demo);
  g_main_loop_quit (demo->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
demo_listen (Demo    *demo,
             GError **error)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  guint16 port;

  /* Port 0: the kernel picks a free one, and tells us which. */
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (demo->server.service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, error))
    return FALSE;

  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  demo->address = g_strdup_printf ("127.0.0.1:%u", (guint) port);
  return TRUE;
}

int
main (void)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GError) error = NULL;
  Demo demo = { 0, };
  guint i;

  /* Keep the transcript in order with anything GLib prints on stderr. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  demo.loop = loop;
  demo.status = EXIT_SUCCESS;
  for (i = 0; i < N_CLIENTS; i++)
    {
      demo.clients[i].demo = &demo;
      demo.clients[i].name = client_names[i];
      g_queue_init (&demo.clients[i].expected);
      demo.clients[i].transcript = g_ptr_array_new_with_free_func (g_free);
    }

  demo.server.service = achat_server_new (ACHAT_TYPE_CHANNEL);
  g_signal_connect (demo.server.service, "channel-accepted",
                    G_CALLBACK (on_channel_accepted), &demo.server);
  if (demo_listen (&demo, &error))
    {
      g_socket_service_start (G_SOCKET_SERVICE (demo.server.service));
      g_print ("[server] listening on %s\n", demo.address);

      demo.timeout_id = g_timeout_add_seconds (TIMEOUT_SECONDS, on_timeout, &demo);
      demo.idle_id = g_idle_add_once (demo_start_turn, &demo);
      g_main_loop_run (loop);
    }
  else
    {
      g_print ("[server] cannot listen on 127.0.0.1: %s\n", error->message);
      demo_fail (&demo);
    }

  /* Tear down; only a failed run leaves channels open. */
  g_clear_handle_id (&demo.timeout_id, g_source_remove);
  g_clear_handle_id (&demo.idle_id, g_source_remove);
  for (i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &demo.clients[i];

      if (client->channel != NULL)
        {
          g_signal_handlers_disconnect_by_data (client->channel, client);
          achat_channel_close (client->channel);
          g_clear_object (&client->channel);
        }
      g_queue_clear_full (&client->expected, g_free);
      g_clear_pointer (&client->transcript, g_ptr_array_unref);
    }
  chat_server_close_all (&demo.server);
  g_socket_service_stop (G_SOCKET_SERVICE (demo.server.service));
  g_socket_listener_close (G_SOCKET_LISTENER (demo.server.service));
  g_clear_object (&demo.server.service);
  g_free (demo.address);

  return demo.status;
}
