# /webapps/baz: the www.baz.com Flask app of seed 000 §8.3.1 (Python 3.0 there), as a WSGI app that says who it is.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'ferry-seed'))
import seed_echo  # noqa: E402

application = seed_echo.make_app('baz')
