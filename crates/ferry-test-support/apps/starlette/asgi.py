# A Starlette app whose lifespan opens a resource (an SQLite database) for its requests and
# closes it at shutdown, writing what it did to $LIFESPAN_LOG.
import contextlib
import os
import sqlite3

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

LOG = os.environ.get('LIFESPAN_LOG')


def note(line):
    if LOG:
        with open(LOG, 'a') as f:
            f.write('%s %d\n' % (line, os.getpid()))


@contextlib.asynccontextmanager
async def lifespan(app):
    db = sqlite3.connect(':memory:')
    db.execute('create table visits (n integer)')
    note('opened')
    yield {'db': db}
    db.close()
    note('closed')


async def visit(request):
    db = request.state.db
    db.execute('insert into visits values (1)')
    count = db.execute('select count(*) from visits').fetchone()[0]
    return JSONResponse({'visits': count, 'pid': os.getpid(),
                         'root_path': request.scope['root_path'], 'path': request.url.path})


app = Starlette(routes=[Route('/visit', visit)], lifespan=lifespan)
