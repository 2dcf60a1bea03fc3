# A FastAPI JSON endpoint for bench/asgi.sh: GET / answers {"message":"hello world"}.
from fastapi import FastAPI

app = FastAPI()


@app.get('/')
async def root():
    return {'message': 'hello world'}
