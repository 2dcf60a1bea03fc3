# A FastAPI app, written as FastAPI's tutorial writes one: JSON, a path parameter, a dependency,
# a streaming response and a WebSocket echo.
import asyncio

from fastapi import Depends, FastAPI, Header, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

app = FastAPI()


async def caller(x_caller: str = Header(default='anonymous')):
    return {'caller': x_caller}


@app.get('/')
async def root():
    return {'message': 'Hello from FastAPI'}


@app.get('/items/{item_id}')
async def read_item(item_id: int, q: str = '', who: dict = Depends(caller)):
    return {'item_id': item_id, 'q': q, 'caller': who['caller']}


@app.post('/items')
async def create_item(item: dict):
    return {'created': item}


@app.get('/stream')
async def stream():
    async def numbers():
        for i in range(3):
            yield b'chunk %d\n' % i
            await asyncio.sleep(0)
    return StreamingResponse(numbers(), media_type='text/plain')


@app.websocket('/ws')
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
