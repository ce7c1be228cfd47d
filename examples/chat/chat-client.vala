/* chat-client.vala: a line client for the chat servers, in Vala
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: chat-client HOST[:PORT]   (the port defaults to 7000)
 *
 * Connects with `yield new Achat.Channel.connect_to_host ()`, sends each line read
 * from standard input (ending it with "\r\n") and prints each line the
 * server sends (without its "\r\n"), flushing after every line, so it can
 * be driven through pipes. At the end of standard input it sends "/quit"
 * and waits for the server to close the connection. It exits with status
 * 0 when the connection closes in order (the server said "* bye" to /quit,
 * or shut down), 1 if it cannot connect or the connection fails, 2 on a
 * usage error.
 *
 *   $ chat-client 127.0.0.1:7000
 *   * welcome, send NICK <name>
 *   NICK vala
 *   * vala joined
 */

class ChatClient : Object {
  private Achat.Channel channel;
  private DataInputStream input;
  private Cancellable cancellable = new Cancellable ();
  private MainLoop loop;

  public int status { get; private set; default = 0; }

  public ChatClient (Achat.Channel channel, MainLoop loop) {
    this.channel = channel;
    this.loop = loop;
    input = new DataInputStream (new UnixInputStream (0, false));

    /* The channel reads nothing before we return to the main loop: set
     * the terminator and connect the handlers now. */
    channel.set_terminator ("\n".data);
    channel.terminator_found.connect (on_line);
    channel.closed.connect (on_closed);
  }

  private void on_line (Bytes message) {
    unowned uint8[] data = message.get_data ();
    size_t length = message.get_size ();

    if (length > 0 && data[length - 1] == '\r')
      length--;
    stdout.write (data[0:length]);
    stdout.putc ('\n');
    stdout.flush ();
  }

  private void on_closed (Error? error) {
    if (error != null) {
      stderr.printf ("chat-client: connection lost: %s\n", error.message);
      status = 1;
    }
    cancellable.cancel ();   /* stop reading standard input */
    loop.quit ();
  }

  /* Sends the lines of standard input, until its end. */
  public async void forward_input () {
    try {
      string? line;

      while ((line = yield input.read_line_async (Priority.DEFAULT, cancellable)) != null) {
        if (channel.is_closing ())
          return;   /* the server said bye: nobody listens any more */
        if (line.has_suffix ("\r"))
          line = line.substring (0, line.length - 1);
        channel.push ((line + "\r\n").data);
      }
      /* The server answers "* bye" and closes the connection: everything it
       * sent before that is printed. */
      if (!channel.is_closing ())
        channel.push ("/quit\r\n".data);
    } catch (IOError.CANCELLED e) {
      /* the connection closed first */
    } catch (Error e) {
      stderr.printf ("chat-client: cannot read standard input: %s\n", e.message);
      channel.close ();
    }
  }
}

/* The connect is an async creation method of Achat.Channel (the finish
 * function is a constructor), so it is reached with yield. */
async void start_client (string host_and_port, MainLoop loop, out ChatClient? client, out int status) {
  client = null;
  status = 0;
  try {
    var channel = yield new Achat.Channel.connect_to_host (host_and_port, 7000);

    client = new ChatClient (channel, loop);
    client.forward_input.begin ();
  } catch (Error e) {
    stderr.printf ("chat-client: cannot connect to %s: %s\n", host_and_port, e.message);
    status = 1;
    loop.quit ();
  }
}

int main (string[] args) {
  var loop = new MainLoop ();
  ChatClient? client = null;
  int status = 0;

  if (args.length != 2) {
    stderr.printf ("usage: %s HOST[:PORT]\n", args[0]);
    return 2;
  }

  start_client.begin (args[1], loop, (obj, result) => {
    start_client.end (result, out client, out status);
  });
  loop.run ();

  return client != null ? client.status : status;
}
