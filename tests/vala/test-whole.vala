/* test-whole.vala: whole reads and plain-bytes messages from Vala
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A Vala subclass overrides messages_found (the vapi gives it the bounds as
 * a size_t[]) or message_found (a uint8[]): the messages of one write come
 * in one call, a header changes the framing and the body after it is
 * framed again, as in the C, Python and GJS tests; netstrings framed by
 * set_terminator_text_length () come a read at a time. Speaks TAP through
 * GLib.Test.
 */

/* The bytes as a string (they are not NUL-terminated). */
static string text_of (uint8[] data) {
  return ((string) data).substring (0, data.length);
}

/* Counts lines; "BODY n" announces n bytes of body. */
class LineCounter : Achat.Channel {
  public int lines = 0;
  public string? body = null;
  public int calls = 0;
  public int most = 0;
  private bool in_body = false;

  public LineCounter (IOStream stream) {
    Object (stream: stream);
    set_terminator ("\n".data);
  }

  public override uint messages_found (Bytes data, size_t[] bounds) {
    unowned uint8[] bytes = data.get_data ();
    calls++;
    most = int.max (most, bounds.length / 2);
    for (int i = 0; i < bounds.length; i += 2) {
      var line = text_of (bytes[bounds[i]:bounds[i + 1]]);
      if (in_body) {
        body = line;
        in_body = false;
        set_terminator ("\n".data);
        return i / 2 + 1;
      }
      if (line.has_prefix ("BODY ")) {
        in_body = true;
        set_terminator_count (uint64.parse (line.substring (5)));
        return i / 2 + 1;
      }
      lines++;
    }
    return bounds.length / 2;
  }
}

/* Each message as plain bytes. */
class Collector : Achat.Channel {
  public string log = "";

  public Collector (IOStream stream) {
    Object (stream: stream);
    set_terminator ("\r\n".data);
  }

  public override void message_found (uint8[] data) {
    log += "[%s]".printf (text_of (data));
  }
}

/* Netstrings, framed by set_terminator_text_length (): each call gets the
 * payloads of a read, without their "<length>:" headers and "," trailers. */
class Netstrings : Achat.Channel {
  public string log = "";
  public int messages = 0;
  public int calls = 0;
  public int most = 0;

  public Netstrings (IOStream stream) {
    Object (stream: stream);
    set_terminator_text_length (10, ":", ",", 0);
  }

  public override uint messages_found (Bytes data, size_t[] bounds) {
    unowned uint8[] bytes = data.get_data ();
    calls++;
    most = int.max (most, bounds.length / 2);
    for (int i = 0; i < bounds.length; i += 2)
      log += "[%s]".printf (text_of (bytes[bounds[i]:bounds[i + 1]]));
    messages += bounds.length / 2;
    return bounds.length / 2;
  }
}

static SocketConnection? accept_pair (out SocketConnection peer) throws Error {
  var listener = new SocketListener ();
  var port = listener.add_any_inet_port (null);
  peer = new SocketClient ().connect_to_host ("127.0.0.1", port, null);
  var accepted = listener.accept (null, null);
  listener.close ();
  return accepted;
}

static void spin_until (owned SourceFunc done) {
  var deadline = get_monotonic_time () + 10 * TimeSpan.SECOND;
  while (!done () && get_monotonic_time () < deadline)
    MainContext.default ().iteration (false);
}

static void test_whole_reads () {
  try {
    SocketConnection peer;
    var counter = new LineCounter (accept_pair (out peer));
    peer.output_stream.write_all ("a\nb\nBODY 5\nx\ny\nzc\nd\n".data, null, null);
    spin_until (() => counter.lines == 4);
    assert_cmpint (counter.lines, CompareOperator.EQ, 4);
    assert_cmpstr (counter.body, CompareOperator.EQ, "x\ny\nz");
    /* One write: the lines before the header came together. */
    assert_cmpint (counter.most, CompareOperator.GE, 2);
    counter.close ();
  } catch (Error error) {
    assert_no_error (error);
  }
}

static void test_plain_bytes () {
  try {
    SocketConnection peer;
    var collector = new Collector (accept_pair (out peer));
    peer.output_stream.write_all ("one\r\n\r\nthree\r\n".data, null, null);
    spin_until (() => collector.log.length >= 12);
    assert_cmpstr (collector.log, CompareOperator.EQ, "[one][][three]");
    collector.close ();
  } catch (Error error) {
    assert_no_error (error);
  }
}

static void test_text_length () {
  try {
    SocketConnection peer;
    var channel = new Netstrings (accept_pair (out peer));
    assert_true (channel.get_terminator_kind () == Achat.TerminatorKind.TEXT_LENGTH);
    /* One write: every netstring in one call. */
    peer.output_stream.write_all ("5:hello,0:,6:1:a,b,,3:x\r\n,".data, null, null);
    spin_until (() => channel.messages == 4);
    assert_cmpstr (channel.log, CompareOperator.EQ, "[hello][][1:a,b,][x\r\n]");
    assert_cmpint (channel.calls, CompareOperator.EQ, 1);
    /* A netstring cut across writes comes once its trailer has. */
    peer.output_stream.write_all ("10:0123".data, null, null);
    spin_until (() => channel.get_bytes_received () >= 26 + 7);
    peer.output_stream.write_all ("456789".data, null, null);
    spin_until (() => channel.get_bytes_received () >= 26 + 13);
    assert_cmpuint ((uint) channel.get_bytes_received (), CompareOperator.EQ, 26 + 13);
    assert_cmpint (channel.messages, CompareOperator.EQ, 4);
    peer.output_stream.write_all (",".data, null, null);
    spin_until (() => channel.messages == 5);
    assert_cmpstr (channel.log, CompareOperator.EQ, "[hello][][1:a,b,][x\r\n][0123456789]");
    /* push_frame () writes the same format back. */
    channel.push_frame ("a,b:".data);
    channel.push_frame ({});
    spin_until (() => channel.get_queued_bytes () == 0);
    var reply = new uint8[10];
    size_t got;
    peer.input_stream.read_all (reply, out got, null);
    assert_cmpstr (text_of (reply[0:got]), CompareOperator.EQ, "4:a,b:,0:,");
    /* A wrong trailer closes the channel with INVALID_FRAME. */
    Error? closed_with = null;
    var closed = false;
    channel.closed.connect ((error) => { closed = true; closed_with = error.copy (); });
    peer.output_stream.write_all ("2:ab;".data, null, null);
    spin_until (() => closed);
    assert_true (closed);
    assert_error (closed_with, Achat.Error.quark (), Achat.Error.INVALID_FRAME);
    assert_cmpint (channel.messages, CompareOperator.EQ, 5);
  } catch (Error error) {
    assert_no_error (error);
  }
}

int main (string[] args) {
  Test.init (ref args);
  Test.add_func ("/vala/whole/messages-found", test_whole_reads);
  Test.add_func ("/vala/whole/message-found", test_plain_bytes);
  Test.add_func ("/vala/whole/text-length", test_text_length);
  return Test.run ();
}
