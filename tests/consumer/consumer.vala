/* consumer.vala: a Vala program using achat through the uninstalled vapi
 * (tests/test-consumer.py): valac finds GIO from achat-1.0.deps, and a
 * cancellable is optional.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A loopback port nobody listens on: bound, then closed. */
GLib.SocketAddress refused_address () throws GLib.Error {
  var probe = new GLib.Socket (GLib.SocketFamily.IPV4, GLib.SocketType.STREAM, GLib.SocketProtocol.TCP);
  probe.bind (new GLib.InetSocketAddress.from_string ("127.0.0.1", 0), false);
  var address = probe.get_local_address ();
  probe.close ();
  return address;
}

/* The connect is an async creation method (its finish function is a
 * constructor); the cancellable is left out. */
async string try_connect (GLib.SocketAddress address) {
  try {
    yield new Achat.Channel.connect (address, null, typeof (Achat.Channel));
    return "connected?";
  } catch (GLib.Error error) {
    return "ok";
  }
}

int main () {
  var loop = new GLib.MainLoop ();
  var outcome = "no outcome";
  GLib.SocketAddress nobody;

  try {
    nobody = refused_address ();
  } catch (GLib.Error error) {
    printerr ("%s\n", error.message);
    return 1;
  }
  try_connect.begin (nobody, (obj, result) => {
    outcome = try_connect.end (result);
    loop.quit ();
  });
  loop.run ();
  print ("vala: %s\n", outcome);
  return outcome == "ok" ? 0 : 1;
}
