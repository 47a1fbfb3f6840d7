"""A real SMTP server for the tests (aiosmtpd): every message it accepts is
written to DIR/<recipient>/<time>-<n>.eml, one file per recipient, so a
test reads the mail sent to the address it made up and deletes it.

    python mail_sink.py --host 127.0.0.1 --port 2525 --dir .local/mail
"""

import argparse
import asyncio
import itertools
import os
import re
import time

from aiosmtpd.controller import Controller

SAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class Sink:
    def __init__(self, root):
        self.root = root
        self.counter = itertools.count()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= 100:
            return "452 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            folder = os.path.join(self.root, SAFE.sub("_", recipient.lower()))
            os.makedirs(folder, exist_ok=True)
            name = f"{time.time_ns()}-{next(self.counter)}"
            partial = os.path.join(folder, name + ".part")
            with open(partial, "wb") as out:
                out.write(envelope.content)
            # Whole files only: a reader never sees half a message.
            os.rename(partial, os.path.join(folder, name + ".eml"))
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname=args.host, port=args.port)
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
