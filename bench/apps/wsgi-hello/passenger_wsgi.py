# Hello-world WSGI app for bench/loaders.sh (Ferry, Passenger and gunicorn all load `application`).
BODY = b"hello world"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
