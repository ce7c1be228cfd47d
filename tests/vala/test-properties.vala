/* test-properties.vala: properties from Vala, through the generated vapi
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Vala reads and writes a property through its C accessors when it has
 * them, and through g_object_get()/g_object_set() otherwise, with the type
 * the vapi gives it: the vapi must say what the accessors take and return
 * (bindings/vala/Achat-1.0.metadata), including NULL where they may return
 * it. Each property is read both ways here and the two must agree. Speaks
 * TAP through GLib.Test.
 */

/* A loopback connection: a channel over the accepted GSocketConnection. */
class Pair : Object {
  public Achat.Channel channel;
  public SocketConnection peer;
  private SocketListener listener = new SocketListener ();

  public Pair () throws Error {
    var port = listener.add_any_inet_port (null);
    peer = new SocketClient ().connect_to_host ("127.0.0.1", port, null);
    channel = new Achat.Channel.for_stream (listener.accept (null, null));
  }

  public void close () {
    channel.close ();
    listener.close ();
  }
}

static void test_nullable () {
  Pair pair;
  try {
    pair = new Pair ();
  } catch (Error error) {
    assert_no_error (error);
    return;
  }

  /* Over a GSocketConnection: a socket and a stream, no TLS. */
  Achat.Channel channel = pair.channel;
  GLib.Socket? socket = channel.socket;
  GLib.IOStream? stream = channel.stream;
  GLib.TlsConnection? tls = channel.tls_connection;
  GLib.MainContext? context = channel.context;
  assert_nonnull (socket);
  assert_true (socket == channel.get_socket ());
  assert_true (stream == channel.get_stream ());
  assert_null (tls);
  assert_true (context == MainContext.ref_thread_default ());

  /* Over a stream that is no socket connection: no socket. */
  var memory = new Achat.Channel.for_stream (
    new SimpleIOStream (new MemoryInputStream (), new MemoryOutputStream.resizable ()));
  GLib.Socket? none = memory.socket;
  assert_null (none);
  assert_nonnull (memory.stream);
  memory.close ();
  pair.close ();
}

static void test_sizes () {
  Pair pair;
  try {
    pair = new Pair ();
  } catch (Error error) {
    assert_no_error (error);
    return;
  }
  var channel = pair.channel;

  /* Through the accessors. */
  channel.max_input_size = 77;
  assert_cmpuint ((uint) channel.get_max_input_size (), CompareOperator.EQ, 77);
  channel.set_max_input_size (4096);
  size_t max_input = channel.max_input_size;
  assert_cmpuint ((uint) max_input, CompareOperator.EQ, 4096);
  Value value = Value (typeof (uint64));
  channel.get_property ("max-input-size", ref value);
  assert_cmpuint ((uint) value.get_uint64 (), CompareOperator.EQ, 4096);

  /* Through g_object_set()/g_object_get() (no single setter). */
  channel.output_low_watermark = 1024;
  channel.output_high_watermark = 8192;
  uint64 high = channel.output_high_watermark;
  assert_cmpuint ((uint) high, CompareOperator.EQ, 8192);
  assert_cmpuint ((uint) channel.get_output_high_watermark (), CompareOperator.EQ, 8192);
  assert_cmpuint ((uint) channel.get_output_low_watermark (), CompareOperator.EQ, 1024);

  /* Read-only counters. */
  size_t queued = channel.queued_bytes;
  assert_cmpuint ((uint) queued, CompareOperator.EQ, (uint) channel.get_queued_bytes ());
  uint64 unsent = channel.unsent_bytes;
  assert_cmpuint ((uint) unsent, CompareOperator.EQ, 0);
  pair.close ();
}

static void test_construct () {
  var data = new Bytes ("hello, world".data);

  var made = new Achat.SimpleProducer (data, 5);
  assert_cmpuint ((uint) made.buffer_size, CompareOperator.EQ, 5);
  assert_cmpuint ((uint) made.get_buffer_size (), CompareOperator.EQ, 5);

  Achat.Producer producer = made;
  var first = producer.more ();
  assert_nonnull (first);
  assert_cmpuint ((uint) first.get_size (), CompareOperator.EQ, 5);
  assert_cmpuint ((uint) made.get_remaining (), CompareOperator.EQ, 7);

  var server = new Achat.Server (typeof (Achat.Channel));
  assert_false (server.backing_off);
  assert_true (server.channel_type == typeof (Achat.Channel));
}

int main (string[] args) {
  Test.init (ref args);
  Test.add_func ("/vala/properties/nullable", test_nullable);
  Test.add_func ("/vala/properties/sizes", test_sizes);
  Test.add_func ("/vala/properties/construct", test_construct);
  return Test.run ();
}
