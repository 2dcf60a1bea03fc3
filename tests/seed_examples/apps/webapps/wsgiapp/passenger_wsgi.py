# /webapps/wsgiapp: the WSGI app of seed 000 §5.2.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'ferry-seed'))
import seed_echo  # noqa: E402

application = seed_echo.make_app('wsgiapp')
