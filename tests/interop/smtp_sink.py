#!/usr/bin/python3
"""smtp_sink: an SMTP server on loopback that keeps what it is sent (stdlib).

    smtp_sink.py PORT DIR

Answers every command with success, as a mail server that accepts all
would, and writes each message to DIR/N.eml (N from 1), its first line
"X-Envelope: MAIL-FROM -> RCPT,RCPT". Runs until killed. For tests of
commands that send mail by SMTP (the outbound_notify example).
"""
import os
import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    count = 0

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        self.reply('220 sink.test ESMTP')
        sender, rcpts = '', []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b'EHLO', b'HELO'):
                self.reply('250 sink.test')
            elif verb == b'MAIL':
                sender, rcpts = line[10:].strip().decode('utf-8', 'replace'), []
                self.reply('250 ok')
            elif verb == b'RCPT':
                rcpts.append(line[8:].strip().decode('utf-8', 'replace'))
                self.reply('250 ok')
            elif verb == b'DATA':
                self.reply('354 go on')
                body = []
                while True:
                    d = self.rfile.readline(65536)
                    if not d or d in (b'.\r\n', b'.\n'):
                        break
                    body.append(d[1:] if d.startswith(b'..') else d)
                Session.count += 1
                path = os.path.join(self.server.dir, '%d.eml' % Session.count)
                with open(path + '.tmp', 'wb') as f:
                    f.write(('X-Envelope: %s -> %s\r\n' % (sender, ','.join(rcpts))).encode())
                    f.write(b''.join(body))
                os.rename(path + '.tmp', path)
                self.reply('250 kept')
            elif verb == b'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('250 ok')


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 64
    socketserver.TCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(('127.0.0.1', int(argv[0])), Session) as srv:
        srv.dir = argv[1]
        srv.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
