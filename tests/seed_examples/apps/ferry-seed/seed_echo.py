# The WSGI app behind the seed examples' Python apps (each `passenger_wsgi.py` calls
# `seed_echo.make_app(NAME)`). Standard library only. Plain text, one `key=value` line each:
#
#   app=NAME            the app's name (from its passenger_wsgi.py)
#   cwd=...             os.getcwd(): the app root Ferry started it in
#   pid=...             the process id
#   interpreter=...     SEED_INTERPRETER, set by the wrappers under usr/ (empty: python on PATH)
#   script_name=...     SCRIPT_NAME (the base URI) and PATH_INFO
#   path_info=...
#   env.KEY=VALUE       every str entry of the WSGI environ (CGI variables)
#   ENV.KEY=VALUE       every environment variable of the process (WSGI_ENV, ...)

import os


def make_app(name):
    def application(environ, start_response):
        lines = [
            'app=' + name,
            'cwd=' + os.getcwd(),
            'pid=' + str(os.getpid()),
            'interpreter=' + os.environ.get('SEED_INTERPRETER', ''),
            'script_name=' + environ.get('SCRIPT_NAME', ''),
            'path_info=' + environ.get('PATH_INFO', ''),
        ]
        lines += ['env.%s=%s' % (k, v) for k, v in environ.items() if isinstance(v, str)]
        lines += ['ENV.%s=%s' % (k, v) for k, v in os.environ.items()]
        body = ('\n'.join(lines) + '\n').encode('utf-8', 'replace')
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]

    return application
