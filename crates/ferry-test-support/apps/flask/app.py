# The Flask fixture app of Ferry's integration tests: what a typical Flask user deploys.
#
#   GET  /      -> HTML page with "Hello from Flask" and a form posting `name` to /form
#   POST /form  -> "Thanks, <name>" (HTML-escaped)
#
# passenger_wsgi.py exposes it to the loader as `application`.

from flask import Flask, request, url_for
from markupsafe import escape

app = Flask(__name__)

PAGE = """<!DOCTYPE html>
<html>
<head><title>Ferry Flask fixture</title></head>
<body>
<h1>Hello from Flask</h1>
<form method="post" action="{action}">
<input type="text" name="name">
<button type="submit">Send</button>
</form>
</body>
</html>
"""


@app.route('/')
def index():
    return PAGE.format(action=url_for('form'))


@app.route('/form', methods=['POST'])
def form():
    return 'Thanks, %s' % escape(request.form.get('name', ''))
