# Upload app for bench/slow-clients.sh (part "uploads"): reads the whole request body in 256 KiB
# pieces and answers its length in bytes, as decimal text ("0" for a request without a body).
# Reads at most CONTENT_LENGTH bytes when there is one, else until the input ends.
PIECE = 256 * 1024


def application(environ, start_response):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    left = int(length) if length.isdigit() else None
    buf = bytearray(PIECE)
    view = memoryview(buf)
    total = 0
    while left is None or left > 0:
        want = PIECE if left is None else min(PIECE, left)
        if hasattr(stream, "readinto"):
            n = stream.readinto(view[:want])
        else:
            n = len(stream.read(want))
        if not n:
            break
        total += n
        if left is not None:
            left -= n
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
