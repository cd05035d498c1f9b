#!/usr/bin/env python3
"""The demo's model server: a stand-in for llama.cpp's `llama-server`, Python's standard library
only, that goes through a model server's life in under half a minute so the guard can be seen
following it. `bootgate run` starts it once the gate has passed:

  cargo run --release -- run --config examples/demo.yaml -- python3 examples/demo/model.py

  loading   every route answers 503 {"error":{"message":"Loading model",
            "type":"unavailable_error","code":503}} and closes the connection, as llama-server
            does while it loads (tools/server: the pre-routing check of the server state)
  serving   GET /health 200 {"status":"ok"}; GET /v1/models and /models list the model;
            GET /props says it is not sleeping; POST /v1/completions generates one word
  failing   POST /v1/completions answers 500 {"error":{"code":500,"message":"Compute error.",
            "type":"server_error"}}, llama-server's answer when a decode fails (a GPU out of
            memory), while /health stays 200: the case a health check alone never sees
  serving   again, and then it exits 0, which ends `bootgate run` with 0

The bodies and headers are those of the llama-server that llama-cpp-python 0.3.36 vendors, as it
answered them. Each phase is printed as it begins. `--stay` keeps it serving after the failure,
until Ctrl-C or SIGTERM, so the URLs can be opened at leisure.
"""

import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time

LOADING = "loading"
SERVING = "serving"
FAILING = "failing"

# Seconds in each phase: long enough for the guard's thresholds and hold in demo.yaml to show
# each turn, short enough that the whole demo ends within half a minute.
LOAD_S = 3.0
SERVE_S = 7.0
FAIL_S = 5.0
SERVE_AGAIN_S = 6.0


def error(code, message, kind):
    # llama-server orders the keys of a 500 otherwise than the others': kept as it sends them.
    if code == 500:
        return {"error": {"code": code, "message": message, "type": kind}}
    return {"error": {"message": message, "type": kind, "code": code}}


class Model:
    def __init__(self, alias):
        self.alias = alias
        self.phase = LOADING
        self.created = int(time.time())
        self.completions = 0
        self.lock = threading.Lock()

    def set(self, phase):
        with self.lock:
            self.phase = phase

    def answer(self, method, path):
        """(status, body) for a request, from the phase the model is in."""
        with self.lock:
            phase = self.phase
        path = path.split("?", 1)[0]
        if phase == LOADING:
            return 503, error(503, "Loading model", "unavailable_error")
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path in ("/v1/models", "/models"):
            return 200, {
                "object": "list",
                "data": [
                    {
                        "id": self.alias,
                        "aliases": [self.alias],
                        "tags": [],
                        "object": "model",
                        "created": self.created,
                        "owned_by": "llamacpp",
                        "meta": None,
                    }
                ],
            }
        if method == "GET" and path == "/props":
            return 200, {"total_slots": 1, "model_alias": self.alias, "is_sleeping": False}
        if method == "POST" and path in ("/v1/completions", "/completions"):
            if phase == FAILING:
                return 500, error(500, "Compute error.", "server_error")
            with self.lock:
                self.completions += 1
                n = self.completions
            return 200, {
                "choices": [
                    {"text": " 4", "index": 0, "logprobs": None, "finish_reason": "length"}
                ],
                "created": int(time.time()),
                "model": self.alias,
                "object": "text_completion",
                "usage": {"completion_tokens": 1, "prompt_tokens": 3, "total_tokens": 4},
                "id": f"cmpl-demo-{n}",
            }
        return 404, error(404, "File Not Found", "not_found_error")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llama.cpp"
    sys_version = ""
    # llama-server's keep-alive: an idle connection is closed after 5 s.
    timeout = 5
    model = None

    def reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.model.answer(self.command, self.path)
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        # llama-server closes the connection after every error it answers.
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Keep-Alive", "timeout=5, max=100")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = reply

    def log_message(self, *args):
        # The guard looks every second; the phases are the story, not each request.
        pass


def say(text):
    print(f"model: {text}", file=sys.stderr, flush=True)


def stop(signum, _frame):
    # Ctrl-C arrives twice, from the terminal and forwarded by bootgate: the second is the
    # same request. Exited at once, since one landing while the interpreter shuts down would
    # end it with 130 instead of 0.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say(f"stopped by {signal.Signals(signum).name}")
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--alias", default="llama", help="the model's name, as /v1/models lists it")
    parser.add_argument("--stay", action="store_true", help="keep serving until Ctrl-C or SIGTERM")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    model = Model(args.alias)
    Handler.model = model
    try:
        # Bound before loading, as llama-server does: it answers 503 while it loads.
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as e:
        say(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror}")
        return 1
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    url = f"http://127.0.0.1:{args.port}"
    # The gate's degraded gpu check reaches the server as BOOTGATE_SAFE_MODE (state_dir/env).
    device = "the GPU"
    if os.environ.get("BOOTGATE_SAFE_MODE") == "cpu":
        device = "the CPU (BOOTGATE_SAFE_MODE=cpu)"
    say(f"loading {args.alias} on {device} at {url}: /health answers 503 Loading model")
    time.sleep(LOAD_S)
    model.set(SERVING)
    say("loaded: /health 200, completions served")
    time.sleep(SERVE_S)
    model.set(FAILING)
    say(
        "decoding fails (out of memory): completions answer 500 Compute error.;"
        " /health still says ok"
    )
    time.sleep(FAIL_S)
    model.set(SERVING)
    say("recovered: completions served again")
    if args.stay:
        say("serving until Ctrl-C")
        while True:
            signal.pause()
    time.sleep(SERVE_AGAIN_S)
    say("done; exiting 0 (--stay keeps it serving)")
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
