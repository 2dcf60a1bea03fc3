# asgi-stub: a raw ASGI 3 app (no framework) for loaders/python/test/test_asgi.py and
# crates/ferry/tests/asgi.rs. Each path exercises some of the spec's events; what the app
# received is answered as JSON, or recorded as one file per event in $ASGI_RECORD_DIR for what
# happens after the client has gone. $ASGI_LIFESPAN picks a lifespan that fails.

import asyncio
import json
import os

RECORD = os.environ.get('ASGI_RECORD_DIR', '')
# 'failed', 'raise', 'unsupported', 'shutdown-failed' or ''
FAIL = os.environ.get('ASGI_LIFESPAN', '')


def record(name, value):
    if RECORD:
        with open(os.path.join(RECORD, name), 'w') as f:
            f.write(json.dumps(value))


async def respond(send, status, body, headers=()):
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'text/plain')] + list(headers)})
    await send({'type': 'http.response.body', 'body': body})


async def respond_json(send, value):
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'application/json')]})
    await send({'type': 'http.response.body', 'body': json.dumps(value).encode()})


def query(scope):
    out = {}
    for pair in scope['query_string'].decode().split('&'):
        if '=' in pair:
            k, v = pair.split('=', 1)
            out[k] = v
    return out


async def lifespan(scope, receive, send):
    if FAIL == 'unsupported':
        raise ValueError('this app has no lifespan')
    event = await receive()
    assert event['type'] == 'lifespan.startup', event
    if FAIL == 'failed':
        await send({'type': 'lifespan.startup.failed', 'message': 'the database is unreachable'})
        return
    if FAIL == 'raise':
        raise RuntimeError('lifespan startup went wrong')
    scope['state']['started'] = 'yes'
    scope['state']['pid'] = os.getpid()
    record('startup', os.getpid())
    await send({'type': 'lifespan.startup.complete'})
    event = await receive()
    assert event['type'] == 'lifespan.shutdown', event
    record('shutdown', os.getpid())
    if FAIL == 'shutdown-failed':
        await send({'type': 'lifespan.shutdown.failed', 'message': 'could not flush the cache'})
        return
    await send({'type': 'lifespan.shutdown.complete'})


async def http(scope, receive, send):
    path = scope['path']
    if path == '/hello':
        return await respond(send, 200, b'hello world')
    if path.endswith('/scope'):
        fields = dict((k, v) for k, v in scope.items() if k not in ('headers', 'raw_path',
                                                                     'query_string', 'state'))
        fields['headers'] = [[k.decode('latin-1'), v.decode('latin-1')] for k, v in scope['headers']]
        fields['raw_path'] = scope['raw_path'].decode('latin-1')
        fields['query_string'] = scope['query_string'].decode('latin-1')
        fields['state'] = scope.get('state')
        fields['pid'] = os.getpid()
        return await respond_json(send, fields)
    if path == '/echo':
        # Every http.request message as it came: body sizes and more_body flags.
        messages, body = [], b''
        while True:
            message = await receive()
            assert message['type'] == 'http.request', message
            messages.append([len(message['body']), message['more_body']])
            body += message['body']
            if not message['more_body']:
                break
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [(b'x-messages', json.dumps(messages).encode())]})
        return await send({'type': 'http.response.body', 'body': body})
    if path == '/stream':
        # Chunks as separate messages; the last one ends the response.
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        for part in (b'one\n', b'two\n', b''):
            await send({'type': 'http.response.body', 'body': part, 'more_body': part != b''})
        return None
    if path == '/stream-length':
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [(b'content-length', b'8')]})
        await send({'type': 'http.response.body', 'body': b'1234', 'more_body': True})
        return await send({'type': 'http.response.body', 'body': b'5678'})
    if path == '/wait-disconnect':
        # Streams a first chunk, then waits for the client to go: http.disconnect.
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'first\n', 'more_body': True})
        message = await receive()
        while message['type'] == 'http.request':
            message = await receive()
        record('disconnect-' + query(scope).get('id', ''), message)
        return None
    if path == '/after-response':
        await respond(send, 200, b'done')
        message = await receive()
        record('after-response', message)
        return None
    if path == '/pathsend':
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        return await send({'type': 'http.response.pathsend', 'path': query(scope)['file']})
    if path == '/gate':
        # Answers only once `n` requests are in the process at once (concurrency).
        state = GATES.setdefault(query(scope)['name'], {'count': 0, 'event': asyncio.Event()})
        state['count'] += 1
        if state['count'] >= int(query(scope)['n']):
            state['event'].set()
        await state['event'].wait()
        return await respond(send, 200, b'%d' % os.getpid())
    if path == '/error':
        raise RuntimeError('the app failed')
    if path == '/error-after-start':
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'partial', 'more_body': True})
        raise RuntimeError('the app failed mid-response')
    if path == '/no-response':
        return None
    if path == '/bad-header':
        return await respond(send, 200, b'x', [(b'x-evil', b'a\r\nInjected: yes')])
    if path == '/sleep':
        record('sleeping', os.getpid())
        await asyncio.sleep(float(query(scope).get('s', '0.05')))
        return await respond(send, 200, b'slept')
    return await respond(send, 404, b'not found')


GATES = {}


async def websocket(scope, receive, send):
    path = scope['path']
    message = await receive()
    assert message['type'] == 'websocket.connect', message
    if path == '/ws-deny':
        return await send({'type': 'websocket.close'})
    if path == '/ws-http':
        await send({'type': 'websocket.http.response.start', 'status': 401,
                    'headers': [(b'content-type', b'text/plain')]})
        return await send({'type': 'websocket.http.response.body', 'body': b'no entry'})
    subprotocol = scope['subprotocols'][0] if scope['subprotocols'] else None
    await send({'type': 'websocket.accept', 'subprotocol': subprotocol,
                'headers': [(b'x-ws', b'yes')]})
    if path == '/ws-close':
        return await send({'type': 'websocket.close', 'code': 4001, 'reason': 'bye'})
    if path == '/ws-scope':
        return await send({'type': 'websocket.send', 'text': json.dumps({
            'type': scope['type'], 'scheme': scope['scheme'], 'path': scope['path'],
            'subprotocols': scope['subprotocols'], 'asgi': scope['asgi'],
            'extensions': scope['extensions'], 'root_path': scope['root_path']})})
    # Echo: text as text, bytes as bytes, until the client goes.
    while True:
        message = await receive()
        if message['type'] == 'websocket.disconnect':
            record('ws-disconnect', message)
            return None
        if message.get('text') is not None:
            await send({'type': 'websocket.send', 'text': message['text']})
        else:
            await send({'type': 'websocket.send', 'bytes': message['bytes']})


async def application(scope, receive, send):
    if scope['type'] == 'lifespan':
        return await lifespan(scope, receive, send)
    if scope['type'] == 'http':
        return await http(scope, receive, send)
    return await websocket(scope, receive, send)
