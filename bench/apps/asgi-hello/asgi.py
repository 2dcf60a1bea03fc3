# A raw ASGI app for bench/asgi.sh: GET / answers "hello world"; GET /sleep waits 50 ms first
# (an I/O-bound request: what an asyncio server overlaps).
import asyncio

HEAD = {'type': 'http.response.start', 'status': 200,
        'headers': [(b'content-type', b'text/plain'), (b'content-length', b'11')]}
BODY = {'type': 'http.response.body', 'body': b'hello world'}


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    if scope['path'] == '/sleep':
        await asyncio.sleep(0.05)
    await send(HEAD)
    await send(BODY)

application = app
