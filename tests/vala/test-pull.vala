/* test-pull.vala: the pull style from Vala, through the generated vapi
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A client written with `yield` sets the framing, then reads: each read
 * returns the message framed as it asked, however the peer's bytes were
 * split and whether they came before the first read (two of the scripts of
 * tests/test-channel-pull.c). Speaks TAP through GLib.Test.
 */

/* One read of a script: how it is framed, what it returns. */
struct Step {
  public string kind;      /* "line", "until:<bytes>", "count:<n>", "set-count:<n>" */
  public string message;
}

const string RESP = "$12\r\nhello\r\nworld\r\n+OK\r\n:42\r\n";
const Step[] RESP_STEPS = {
  { "until:\r\n", "$12" },
  { "count:14", "hello\r\nworld\r\n" },
  { "line", "+OK" },
  { "set-count:5", ":42\r\n" },
};

const string HTTP = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
                    "HTTP/1.1 204 No Content\r\n\r\n";
const Step[] HTTP_STEPS = {
  { "until:\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5" },
  { "count:5", "hello" },
  { "until:\r\n\r\n", "HTTP/1.1 204 No Content" },
};

/* A loopback connection: a channel on one end, a plain stream on the other. */
class Pair : Object {
  public Achat.Channel channel;
  public SocketConnection peer;
  private SocketListener listener = new SocketListener ();

  public Pair () throws Error {
    var port = listener.add_any_inet_port (null);
    var client = new SocketClient ();
    peer = client.connect_to_host ("127.0.0.1", port, null);
    var accepted = listener.accept (null, null);
    channel = new Achat.Channel.for_stream (accepted);
  }

  public void close () {
    listener.close ();
  }
}

static void spin_until (owned SourceFunc condition) {
  var deadline = get_monotonic_time () + 10 * TimeSpan.SECOND;
  while (!condition ()) {
    assert (get_monotonic_time () < deadline);
    if (!MainContext.default ().iteration (false))
      Thread.usleep (200);
  }
}

static void spin_for (uint ms) {
  var end = get_monotonic_time () + ms * TimeSpan.MILLISECOND;
  while (get_monotonic_time () < end) {
    if (!MainContext.default ().iteration (false))
      Thread.usleep (200);
  }
}

static string text (Bytes bytes) {
  var builder = new StringBuilder.sized (bytes.get_size () + 1);
  builder.append_len ((string) bytes.get_data (), (ssize_t) bytes.get_size ());
  return builder.str;
}

/* The reads of @steps, in a straight line of yields; returns the messages. */
async string[] read_all (Achat.Channel channel, Step[] steps) throws Error {
  string[] got = {};

  foreach (var step in steps) {
    Bytes? message;

    if (step.kind == "line") {
      message = yield channel.read_line_async ();
    } else if (step.kind.has_prefix ("until:")) {
      message = yield channel.read_until_async (step.kind.substring (6).data);
    } else if (step.kind.has_prefix ("count:")) {
      message = yield channel.read_bytes_async (uint64.parse (step.kind.substring (6)));
    } else {
      channel.set_terminator_count (uint64.parse (step.kind.substring (10)));
      message = yield channel.read_message_async ();
    }
    assert (message != null);
    got += text (message);
  }
  /* The end: the peer closed. */
  assert ((yield channel.read_message_async (null)) == null);
  return got;
}

/* Runs @steps over @stream cut at @cut (0: one write), the first read
 * started before the bytes or after they all came (@late). */
static void run_script (string stream, Step[] steps, size_t cut, bool late) {
  Pair pair;
  try {
    pair = new Pair ();
  } catch (Error e) {
    error ("loopback pair: %s", e.message);
  }
  var channel = pair.channel;
  string[]? got = null;
  Error? failure = null;
  bool done = false;
  uint8[] bytes = stream.data;

  SourceFunc start = () => {
    read_all.begin (channel, steps, (obj, result) => {
      try {
        got = read_all.end (result);
      } catch (Error e) {
        failure = e;
      }
      done = true;
    });
    return false;
  };

  if (!late)
    start ();
  try {
    size_t[] ends = cut > 0 ? new size_t[] { cut, (size_t) bytes.length }
                            : new size_t[] { (size_t) bytes.length };
    size_t from = 0;
    foreach (var end in ends) {
      size_t written;
      pair.peer.output_stream.write_all (bytes[from:end], out written, null);
      if (!late)
        spin_until (() => channel.get_bytes_received () >= end);
      else
        spin_for (2);
      from = end;
    }
    if (late) {
      /* The channel took what came first and waits: nobody reads yet. */
      spin_for (5);
      assert (channel.get_bytes_received () > 0);
      start ();
    }
    pair.peer.close (null);
  } catch (Error e) {
    error ("peer: %s", e.message);
  }
  spin_until (() => done);
  if (failure != null)
    error ("cut %zu%s: %s", cut, late ? ", late" : "", failure.message);
  assert (got.length == steps.length);
  for (var i = 0; i < steps.length; i++) {
    if (got[i] != steps[i].message)
      error ("cut %zu%s: read %d got \"%s\", expected \"%s\"", cut, late ? ", late" : "",
             i, got[i].escape (), steps[i].message.escape ());
  }
  channel.close ();
  pair.close ();
}

static void every_split (string stream, Step[] steps) {
  for (var late = 0; late <= 1; late++) {
    for (size_t cut = 0; cut < stream.length; cut++)
      run_script (stream, steps, cut, late == 1);
  }
}

int main (string[] args) {
  Test.init (ref args);
  Test.add_func ("/vala/pull/resp", () => every_split (RESP, RESP_STEPS));
  Test.add_func ("/vala/pull/http", () => every_split (HTTP, HTTP_STEPS));
  return Test.run ();
}
