"""What the tests' small local HTTP servers (credential_endpoints.py, http_proxy.py) share:
signals a Swift parent may have blocked, the port file, exiting with the parent."""
import os
import signal
import threading
import time


def take_signals():
    """A parent that spawns us from a thread with signals blocked (Swift's Process from a
    dispatch worker) passes that mask on: unblock everything so SIGTERM stops us, and exit
    at once on it."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


def _watch_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def serve(server, port_file=None):
    """Writes the bound port to `port_file` (atomically, once the socket listens), exits
    when the parent does, and serves until stopped."""
    host, port = server.server_address[:2]
    if port_file:
        temporary = port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(f"{port}\n")
        os.replace(temporary, port_file)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    print(f"listening on {host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.2)
