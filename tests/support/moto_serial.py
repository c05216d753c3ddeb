"""moto_server, answering one request at a time.

DynamoDB applies each conditional write atomically: of thirty concurrent "count a wrong code
if fewer than five were counted" updates, exactly five succeed. moto's threaded server checks
the condition and writes the item in separate Python steps, so under load two requests can
both pass the check (seen once: six attempts counted with a limit of five). Taking a lock
around each request gives the adapter tests DynamoDB's per-request atomicity; connections are
still accepted on many threads, so the clients' concurrency is unchanged.

Usage: python3 moto_serial.py [moto_server arguments], e.g. -H 127.0.0.1 -p 0.
"""

import threading

import moto.server as server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialised(app):
    def serial(environ, start_response):
        with _lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return serial


def _run_simple_serialised(host, port, app, **options):
    return _run_simple(host, port, _serialised(app), **options)


server.run_simple = _run_simple_serialised

if __name__ == "__main__":
    server.main()
