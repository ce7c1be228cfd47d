#!/usr/bin/python3
# achat-chat.py: a GTK 4 client for the line chat server of examples/chat
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A GTK 4 chat client on achat (Python, PyGObject).

Usage: achat-chat.py

Connects to the line chat server of examples/chat (chat-server.c, .py or
.js), asks for a nickname, shows the conversation and sends what is typed.
From a build tree:

    GI_TYPELIB_PATH=_build/achat LD_LIBRARY_PATH=_build/achat \\
        /usr/bin/python3 examples/gtk-chat/achat-chat.py

How it uses achat: Achat.Channel.connect_to_host_async() makes the
connection (cancellable; the spinner runs meanwhile), the channel splits
lines on "\\n" with a 64 KiB max-input-size (a hostile server cannot make
the client grow without bound), terminator-found and closed handlers
update the window, and quitting sends /quit and closes with
close_when_done(). Received lines go to a Gtk.StringList shown by a
Gtk.ListView, added in batches (one items-changed per main loop
iteration), so a burst of thousands of lines does not freeze the window.

The application (id io.github.achat.Chat) exports its actions on the
session bus, as every Gtk.Application does: app.connect("HOST:PORT NICK"),
app.send("TEXT"), app.reconnect, app.disconnect, app.quit (Ctrl+Q).
"""

import os
import sys

import gi

gi.require_version("Gtk", "4.0")
gi.require_version("Achat", "1.0")
from gi.repository import Achat, Gio, GLib, GObject, Gtk  # noqa: E402

APP_ID = "io.github.achat.Chat"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PORT = 7000
MAX_LINE = 64 * 1024


def describe_error(error):
    """A sentence for the connect page or the disconnected banner."""
    if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CONNECTION_REFUSED):
        return "The server refused the connection. Is it running?"
    if error.domain == GLib.quark_to_string(Gio.resolver_error_quark()):
        return "The host could not be found."
    if error.matches(Achat.error_quark(), Achat.Error.INPUT_LIMIT):
        return "The server sent a line longer than 64 KiB."
    return error.message


@Gtk.Template(filename=os.path.join(HERE, "chat-window.ui"))
class ChatWindow(Gtk.ApplicationWindow):
    __gtype_name__ = "ChatWindow"

    stack = Gtk.Template.Child()
    spinner = Gtk.Template.Child()
    server_entry = Gtk.Template.Child()
    nick_entry = Gtk.Template.Child()
    connect_button = Gtk.Template.Child()
    cancel_button = Gtk.Template.Child()
    error_label = Gtk.Template.Child()
    disconnected_revealer = Gtk.Template.Child()
    disconnected_label = Gtk.Template.Child()
    messages_view = Gtk.Template.Child()
    message_entry = Gtk.Template.Child()
    scroller = Gtk.Template.Child()

    def __init__(self, **properties):
        super().__init__(**properties)
        self.messages = Gtk.StringList()
        factory = Gtk.SignalListItemFactory()
        factory.connect("setup", self._setup_row)
        factory.connect("bind", self._bind_row)
        self.messages_view.set_model(Gtk.NoSelection.new(self.messages))
        self.messages_view.set_factory(factory)
        self.pending = []           # received lines not yet in the model
        self.flush_id = 0

        for name, callback in [("connect-form", self._on_connect_form),
                               ("cancel", lambda *_: self.get_application().cancel()),
                               ("send-entry", self._on_send_entry)]:
            action = Gio.SimpleAction.new(name, None)
            action.connect("activate", callback)
            self.add_action(action)
        self.nick_entry.connect("activate", self._on_connect_form)
        self.message_entry.connect("activate", self._on_send_entry)

    # Rows: one label each, recycled by the list view. "<nick> text" shows
    # the nick in bold; server notices ("* bob joined") are dimmed.
    def _setup_row(self, factory, item):
        label = Gtk.Label(xalign=0, wrap=True, selectable=True,
                          margin_start=12, margin_end=12, margin_top=3, margin_bottom=3)
        item.set_child(label)

    def _bind_row(self, factory, item):
        label, text = item.get_child(), item.get_item().get_string()
        nick, sep, rest = text.partition("> ")
        if text.startswith("<") and sep:
            label.set_markup(f"<b>{GLib.markup_escape_text(nick + '>')}</b> "
                             f"{GLib.markup_escape_text(rest)}")
        else:
            label.set_text(text)
        if text.startswith("* ") or text.startswith("! "):
            label.add_css_class("dim-label")
        else:
            label.remove_css_class("dim-label")

    def _on_connect_form(self, *args):
        self.get_application().start(self.server_entry.get_text().strip(),
                                     self.nick_entry.get_text().strip())

    def _on_send_entry(self, *args):
        text = self.message_entry.get_text()
        if text and self.get_application().send(text):
            self.message_entry.set_text("")

    def connecting(self, busy, error=None):
        self.spinner.set_spinning(busy)
        self.connect_button.set_sensitive(not busy)
        self.cancel_button.set_visible(busy)
        self.error_label.set_label(error or "")
        if busy or error:
            self.stack.set_visible_child_name("connect")

    def connected(self):
        self.connecting(False)
        self.disconnected_revealer.set_reveal_child(False)
        self.message_entry.set_sensitive(True)
        self.stack.set_visible_child_name("chat")
        self.message_entry.grab_focus()

    def disconnected(self, reason):
        self.flush()
        self.disconnected_label.set_label("Disconnected: " + reason)
        self.disconnected_revealer.set_reveal_child(True)
        self.message_entry.set_sensitive(False)

    def add_line(self, text):
        """Queues a line; the model gets the lines of a burst in one go."""
        self.pending.append(text)
        if not self.flush_id:
            self.flush_id = GLib.idle_add(self._flush_idle, priority=GLib.PRIORITY_DEFAULT_IDLE)

    def _flush_idle(self):
        self.flush_id = 0
        self.flush()
        return GLib.SOURCE_REMOVE

    def flush(self):
        if self.flush_id:
            GLib.source_remove(self.flush_id)
            self.flush_id = 0
        if self.pending:
            self.messages.splice(self.messages.get_n_items(), 0, self.pending)
            self.pending = []
            GLib.idle_add(self._scroll_to_end, priority=GLib.PRIORITY_LOW)

    def _scroll_to_end(self):
        # Ask the list view itself to bring the last row into view: it knows
        # where that row is even before the adjustment's upper bound has
        # caught up with the new rows (setting the adjustment directly races
        # with the list's size estimate).
        n_items = self.messages.get_n_items()
        if n_items:
            self.messages_view.activate_action("list.scroll-to-item",
                                               GLib.Variant.new_uint32(n_items - 1))
        return GLib.SOURCE_REMOVE


class ChatApplication(Gtk.Application):
    def __init__(self):
        super().__init__(application_id=APP_ID, flags=Gio.ApplicationFlags.DEFAULT_FLAGS)
        GLib.set_application_name("achat chat")
        self.window = None
        self.channel = None
        self.cancellable = None
        self.server = None
        self.nick = None

    def do_startup(self):
        Gtk.Application.do_startup(self)
        actions = [("connect", "s", self._on_connect_action),
                   ("send", "s", lambda a, p: self.send(p.get_string())),
                   ("reconnect", None, lambda *_: self.start(self.server, self.nick)),
                   ("disconnect", None, lambda *_: self.disconnect()),
                   ("quit", None, lambda *_: self.quit_politely())]
        for name, ptype, callback in actions:
            action = Gio.SimpleAction.new(name, GLib.VariantType.new(ptype) if ptype else None)
            action.connect("activate", callback)
            self.add_action(action)
        self.set_accels_for_action("app.quit", ["<Primary>q"])

    def do_activate(self):
        if self.window is None:
            self.window = ChatWindow(application=self)
        self.window.present()

    def _on_connect_action(self, action, parameter):
        server, _, nick = parameter.get_string().partition(" ")
        self.activate()
        self.window.server_entry.set_text(server)
        self.window.nick_entry.set_text(nick)
        self.start(server, nick)

    # The connection ------------------------------------------------------

    def start(self, server, nick):
        if not server or not nick:
            self.window.connecting(False, "Enter a server and a nickname.")
            return
        self.disconnect()
        self.server, self.nick = server, nick
        self.cancellable = Gio.Cancellable()
        self.window.connecting(True)
        Achat.Channel.connect_to_host_async(server, DEFAULT_PORT, self.cancellable,
                                            self._on_connected, self.cancellable)

    def cancel(self):
        if self.cancellable:
            self.cancellable.cancel()

    def _on_connected(self, source, result, cancellable):
        try:
            channel = Achat.Channel.connect_to_host_finish(result)
        except GLib.Error as error:
            if cancellable is self.cancellable:
                cancelled = error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
                self.window.connecting(False, "" if cancelled else describe_error(error))
            return
        if cancellable is not self.cancellable or cancellable.is_cancelled():
            channel.close()
            return
        self.channel = channel
        channel.set_terminator(b"\n")
        channel.set_max_input_size(MAX_LINE)
        channel.connect("terminator-found", self._on_line)
        channel.connect("closed", self._on_closed)
        channel.push(b"NICK " + self.nick.encode() + b"\r\n")
        self.window.connected()

    def _on_line(self, channel, message):
        line = (message.get_data() or b"").rstrip(b"\r").decode("utf-8", "replace")
        if line:
            self.window.add_line(line)

    def _on_closed(self, channel, error):
        if channel is not self.channel:
            return
        self.channel = None
        self.window.disconnected(describe_error(error) if error else "the server closed the connection.")
        if self.quitting:
            self.quit()

    def send(self, text):
        if self.channel is None or self.channel.is_closing():
            return False
        data = text.encode()
        if b"\n" in data or b"\r" in data:
            return False
        self.channel.push(data + b"\r\n")
        if not text.startswith("/"):
            self.window.add_line(f"<{self.nick}> {text}")
        return True

    def disconnect(self):
        self.cancel()
        if self.channel is not None:
            channel, self.channel = self.channel, None
            channel.close()

    quitting = False

    def quit_politely(self):
        """Says /quit, lets the queue drain, then quits (or after 2 s)."""
        if self.channel is None or self.channel.is_closing():
            self.quit()
            return
        self.quitting = True
        self.channel.push(b"/quit\r\n")
        self.channel.close_when_done()
        GLib.timeout_add_seconds(2, lambda: self.quit() or GLib.SOURCE_REMOVE)


def main():
    return ChatApplication().run(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
